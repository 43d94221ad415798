package status_test

import (
	"fmt"
	"net/http"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/conference/status"
	"github.com/sipcast/sipcast/sip"
)

// The status page of a Bridge, mounted under /status/ (behind credentials in a real
// server), and the data it shows.
func ExampleNew() {
	b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	h := status.New(b)
	mux := http.NewServeMux()
	mux.Handle("/status/", http.StripPrefix("/status", h))

	st := h.Status()
	fmt.Printf("%d active, %d completed, %d calls listed\n", st.Active, st.Complete, len(st.Calls))
	// Output:
	// 0 active, 0 completed, 0 calls listed
}
