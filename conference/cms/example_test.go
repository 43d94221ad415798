package cms_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"

	"github.com/sipcast/sipcast/cmsapi"
	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/conference/cms"
	"github.com/sipcast/sipcast/media/testclip"
	"github.com/sipcast/sipcast/sip"
	"github.com/sipcast/sipcast/sip/siptest"
)

// A Bridge behind the CMS API, as TMS drives it: a space is configured, a caller dials
// its URI and joins its conference, and the API lists the conference and its leg.
func Example() {
	store := cmsapi.NewStore()
	cdrs := cmsapi.NewStoreCDRSender(store, nil, nil)
	backend := cms.New(cms.Config{Store: store, CDRs: cdrs})
	api := cmsapi.NewServer(cmsapi.ServerConfig{User: "admin", Password: "secret", Store: store, CDRs: cdrs, Backend: backend})
	defer api.Close()
	b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, Controller: backend})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	hs := httptest.NewServer(api) // an HTTPS listener in production
	defer hs.Close()

	ctx := context.Background()
	client, _ := cmsapi.NewClient(hs.URL, "admin", "secret")
	if _, err := client.CreateObject(ctx, "coSpaces", &cmsapi.CoSpace{Name: "Board Room", URI: "board.room"}); err != nil {
		log.Fatal(err)
	}
	clip, _ := testclip.AV720p()
	call, err := siptest.Dial(ctx, b.UA().UDPAddr().String(), clip, siptest.Options{User: "board.room"})
	if err != nil {
		log.Fatal(err)
	}
	defer call.Close()
	calls, _ := cmsapi.ListAll[cmsapi.Call](ctx, client, "calls", nil)
	legs, _ := cmsapi.ListAll[cmsapi.CallLeg](ctx, client, "callLegs", nil)
	fmt.Println(len(calls), "call:", calls[0].Name)
	leg, _ := cmsapi.GetObject[cmsapi.CallLeg](ctx, client, "callLegs/"+legs[0].ID)
	fmt.Println(len(legs), "leg, state", leg.Status.State)
	// Output:
	// 1 call: Board Room
	// 1 leg, state connected
}
