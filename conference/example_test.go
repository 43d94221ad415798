package conference_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/sip"
)

// A CMS-style streamer and recorder: calls stream to the URL they carry (x-cisco-stream)
// or to a default, and are recorded under /recordings/spaces/<space>/.
func ExampleNew() {
	b, err := conference.New(conference.Config{
		SIP:       []sip.Option{sip.WithUDP("0.0.0.0:7000"), sip.WithTCP("0.0.0.0:7000"), sip.WithCallLimit(50)},
		StreamURL: "rtmp://127.0.0.1/live/default",
		RecordDir: "/recordings",
		SpaceID:   func(c *sip.Call) string { v, _ := c.ContactParam("x-space-id"); return v },
		Events:    func(e conference.Event) { fmt.Println(e) }, // "call 12: streaming started to rtmp://..."
	})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close() // BYE to every call, recordings finalized
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	<-ctx.Done()
}
