package metrics_test

import (
	"fmt"
	"net/http/httptest"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/conference/metrics"
	"github.com/sipcast/sipcast/sip"
)

// A Bridge's metrics, with the Go runtime and process collectors, served for Prometheus.
func ExampleNewBridgeCollector() {
	b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	reg := metrics.NewRegistry(metrics.NewBridgeCollector(b))
	srv := httptest.NewServer(metrics.Handler(reg)) // mount it at /metrics in a real server
	defer srv.Close()

	families, err := reg.Gather()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range families {
		switch f.GetName() {
		case "sipcast_calls", "sipcast_streams", "sipcast_stream_sent_bytes_total":
			for _, m := range f.GetMetric() {
				labels := ""
				for _, l := range m.GetLabel() {
					labels += fmt.Sprintf("{%s=%q}", l.GetName(), l.GetValue())
				}
				v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
				fmt.Printf("%s%s %g\n", f.GetName(), labels, v)
			}
		}
	}
	// Output:
	// sipcast_calls 0
	// sipcast_stream_sent_bytes_total 0
	// sipcast_streams{state="connecting"} 0
	// sipcast_streams{state="publishing"} 0
	// sipcast_streams{state="retrying"} 0
}
