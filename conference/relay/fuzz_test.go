package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/rtmp"
	"github.com/sipcast/sipcast/sip"
)

// FuzzStartupBody feeds startup bodies to the decoder and the validation, with every
// SIP domain and RTMP server allowed (so that the accepting path is reached too). A
// body is refused with a 400 or 403 naming a field, or it gives a SIP target and an
// RTMP URL that cannot carry anything into a SIP header or a second URL; the SIP
// password never appears in an error.
func FuzzStartupBody(f *testing.F) {
	f.Add([]byte(`{"callId":"c1","callee":"1001","sipDomain":"pbx.example.com","rtmpUrl":"rtmp://a.example.com/live","rtmpStream":"k"}`))
	f.Add([]byte(`{"callId":"c1","callee":"1001","sipDomain":"10.0.0.1","sipPort":5080,"sipOutboundProxy":"proxy:5061","sipLogin":"alice","sipPassword":"pw-123456","sipRegisterRequired":true,"rtmpUrl":"rtmps://a.example.com:443/live/","rtmpStream":"k","hasVideo":false}`))
	f.Add([]byte(`{"callId":"c1","callee":"1001>;x","sipDomain":"a b","rtmpUrl":"http://x","rtmpStream":"k/../x"}`))
	f.Add([]byte(`{"callId":1}`))
	f.Add([]byte(`{"bogus":true}`))
	f.Add([]byte(`{} {}`))
	f.Add([]byte(`[`))
	s := &Service{cfg: Config{SIPDomains: []string{"*"}, RTMPHosts: []string{"*"}}}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req startupRequest
		err := decode(body, &req)
		if err == nil {
			var p *place
			var streamURL string
			p, streamURL, err = s.validate(&req)
			if err == nil {
				if strings.ContainsAny(p.target+p.registrar+p.aor+p.proxy, " \t\r\n<>\";,\x00") {
					t.Fatalf("the SIP target %q (registrar %q, AOR %q, proxy %q) can break out of its header", p.target, p.registrar, p.aor, p.proxy)
				}
				u, perr := rtmp.ParseURL(streamURL)
				if perr != nil {
					t.Fatalf("accepted an RTMP URL that does not parse: %v", perr)
				}
				if strings.ContainsAny(u.Stream, "/?# \r\n") {
					t.Fatalf("the stream name %q carries a path or a query", u.Stream)
				}
				return
			}
			if len(req.SIPPassword) >= 4 && strings.Contains(err.Error(), req.SIPPassword) {
				t.Fatalf("the error %q shows the SIP password", err)
			}
		}
		var ae *apiError
		if !errors.As(err, &ae) || (ae.status != http.StatusBadRequest && ae.status != http.StatusForbidden) {
			t.Fatalf("refused with %v, not a 400 or 403", err)
		}
		if ae.msg == "" {
			t.Fatal("an empty error message")
		}
	})
}

// FuzzAPI sends bodies to each REST endpoint of a relay that may call nowhere (no
// allow-list configured): every answer is JSON with a status under 500, and startup
// is never accepted.
func FuzzAPI(f *testing.F) {
	for i, b := range []string{`{"callId":"c1"}`, `{"status":"ESTABLISHED"}`, `{}`, ``, `{"callId":"c1","dtmf":"123#","type":"INFO"}`,
		`{"callId":"c1","callee":"1001","sipDomain":"pbx.example.com","rtmpUrl":"rtmp://a.example.com/live","rtmpStream":"k"}`, `null`, `"x"`} {
		f.Add(uint8(i), []byte(b))
	}
	svc, err := New(Config{Bridge: conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}}, Keys: []string{"fuzz-key-0123456789"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = svc.Close() })
	h := svc.Handler()
	paths := []string{"startup", "find", "find_all", "terminate", "send_dtmf"}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		path := paths[int(which)%len(paths)]
		req := httptest.NewRequest(http.MethodPost, "/rest-api/call/"+path, bytes.NewReader(body))
		req.Header.Set("X-Api-Key", "fuzz-key-0123456789")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		if path == "startup" && w.Code == http.StatusOK {
			t.Fatalf("startup accepted with no allow-list: %s", w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s: the answer is not JSON: %q", path, w.Body)
		}
	})
}
