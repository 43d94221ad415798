package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/conference/relay"
	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/rtmp"
	"github.com/sipcast/sipcast/sip"
)

const (
	apiKey   = "test-key-0123456789abcdef"
	password = "hunter2-SIP-password"
	// streamKey is the rtmpStream: the stream's key, never shown.
	streamKey = "live-key-7f3a9c"
)

// fixture is a relay, an in-process RTMP server, a hook server and a callee Bridge.
type fixture struct {
	svc      *relay.Service
	api      *httptest.Server
	rtmpURL  string
	callee   *conference.Bridge
	calleeEv *events
	hooks    *hookLog
	logs     *peer.SyncBuffer
}

type events struct {
	mu  sync.Mutex
	all []conference.Event
}

func (e *events) add(ev conference.Event) { e.mu.Lock(); e.all = append(e.all, ev); e.mu.Unlock() }

func (e *events) digits() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var d string
	for _, ev := range e.all {
		if ev.Type == conference.EventDTMF {
			d += ev.Digit
		}
	}
	return d
}

type hookLog struct {
	mu     sync.Mutex
	bodies []string
}

func (h *hookLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.bodies = append(h.bodies, r.URL.Path+" "+string(b))
	h.mu.Unlock()
}

func (h *hookLog) all() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.bodies, "\n")
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{calleeEv: &events{}, hooks: &hookLog{}, logs: &peer.SyncBuffer{}}
	srv, err := rtmp.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	addr, err := srv.Listen("127.0.0.1:0")
	require.NoError(t, err)
	f.rtmpURL = "rtmp://" + addr.String() + "/live"
	hookSrv := httptest.NewServer(f.hooks)
	t.Cleanup(hookSrv.Close)
	f.callee, err = conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, Events: f.calleeEv.add,
		StreamURL: "rtmp://127.0.0.1:1/live/unused"})
	require.NoError(t, err)
	t.Cleanup(func() { f.callee.Close() })
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.svc, err = relay.New(relay.Config{Bridge: conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0"), sip.WithLogger(log)}, Logger: log},
		Keys: []string{apiKey}, RTMPHosts: []string{"127.0.0.1"}, SIPDomains: []string{"127.0.0.1"}, Hook: hookSrv.URL + "/hooks", Log: log})
	require.NoError(t, err)
	f.api = httptest.NewServer(f.svc.Handler())
	t.Cleanup(func() {
		f.api.Close()
		require.NoError(t, f.svc.Close())
		require.NoError(t, f.svc.Close(), "Close is idempotent")
	})
	return f
}

// post calls the API with the key (key "" sends none) and returns the status and body.
func (f *fixture) post(t *testing.T, path, key string, body any) (int, string) {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	default:
		var err error
		b, err = json.Marshal(v)
		require.NoError(t, err)
	}
	req, err := http.NewRequest(http.MethodPost, f.api.URL+"/rest-api/call/"+path, bytes.NewReader(b))
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(out)
}

func (f *fixture) startup(id string) map[string]any {
	return map[string]any{"callId": id, "callee": "ivr", "sipDomain": "127.0.0.1", "sipPort": f.callee.UA().UDPAddr().(*net.UDPAddr).Port,
		"rtmpUrl": f.rtmpURL, "rtmpStream": streamKey + id, "hasVideo": false, "sipLogin": "alice", "sipPassword": password, "toStream": "room-" + id}
}

func (f *fixture) find(t *testing.T, id string) relay.Call {
	t.Helper()
	code, body := f.post(t, "find", apiKey, map[string]string{"callId": id})
	require.Equal(t, http.StatusOK, code, body)
	var calls []relay.Call
	require.NoError(t, json.Unmarshal([]byte(body), &calls))
	require.Len(t, calls, 1)
	return calls[0]
}

// A call through the API, Go peers only: startup answers 200, the call connects and
// streams (the callee's audio, transcoded), keys sent through send_dtmf reach the
// callee in order (RFC 4733, then SIP INFO), terminate ends it with a reason; the REST
// hooks told each step. Neither the SIP password nor the stream key is in any answer,
// hook or log line of the run.
func TestRelayCallGoOnly(t *testing.T) {
	peer.CheckNoLeaks(t)
	f := newFixture(t)
	code, body := f.post(t, "startup", apiKey, f.startup("c1"))
	require.Equal(t, http.StatusOK, code, body)
	var c relay.Call
	require.Eventually(t, func() bool {
		c = f.find(t, "c1")
		return c.Status == relay.StatusEstablished && c.StreamStatus == relay.StreamPublishing
	}, 20*time.Second, 10*time.Millisecond, "find: %+v", c)
	require.Equal(t, "room-c1", c.ToStream)
	require.False(t, c.HasVideo)

	code, body = f.post(t, "send_dtmf", apiKey, map[string]string{"callId": "c1", "dtmf": "12#"})
	require.Equal(t, http.StatusOK, code, body)
	require.Eventually(t, func() bool { return f.calleeEv.digits() == "12#" }, 10*time.Second, 10*time.Millisecond)
	code, body = f.post(t, "send_dtmf", apiKey, map[string]string{"callId": "c1", "dtmf": "9", "type": "INFO"})
	require.Equal(t, http.StatusOK, code, body)
	require.Eventually(t, func() bool { return f.calleeEv.digits() == "12#9" }, 10*time.Second, 10*time.Millisecond)

	code, body = f.post(t, "find_all", apiKey, "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"callId":"c1"`)
	code, body = f.post(t, "terminate", apiKey, map[string]string{"callId": "c1"})
	require.Equal(t, http.StatusOK, code, body)
	require.Eventually(t, func() bool {
		c = f.find(t, "c1")
		return c.Status == relay.StatusFinished
	}, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, "terminated through the API", c.EndReason)
	require.Positive(t, c.Duration)
	require.Eventually(t, func() bool { return strings.Contains(f.hooks.all(), `"status":"FINISH"`) }, 10*time.Second, 10*time.Millisecond)
	hooks := f.hooks.all()
	for _, want := range []string{"/hooks/CallStatusEvent", `"status":"TRYING"`, `"status":"ESTABLISHED"`, "/hooks/StreamStatusEvent", `"streamStatus":"PUBLISHING"`} {
		require.Contains(t, hooks, want)
	}
	_, page := f.get(t, "/")
	for _, out := range []string{hooks, f.logs.String(), body, page} {
		require.NotContains(t, out, password)
		require.NotContains(t, out, streamKey)
	}
	code, body = f.post(t, "find_all", apiKey, "")
	require.Equal(t, http.StatusOK, code)
	require.NotContains(t, body, password)
	require.NotContains(t, body, streamKey)
}

func (f *fixture) get(t *testing.T, path string) (int, string) {
	t.Helper()
	res, err := http.Get(f.api.URL + path)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

// REST errors: no key or a wrong one 401; a bad body 400 naming the field; a duplicate
// callId or stream 409; an RTMP server or SIP domain outside the allow-lists 403; an
// unknown call 404; a body beyond 16 KiB 413. A callee that is busy fails the call with
// its status and a reason a person understands.
func TestRelayErrorsGoOnly(t *testing.T) {
	peer.CheckNoLeaks(t)
	f := newFixture(t)
	ok := f.startup("e1")
	for _, key := range []string{"", "wrong-key-0123456789abc"} {
		code, body := f.post(t, "startup", key, ok)
		require.Equal(t, http.StatusUnauthorized, code, body)
	}
	bad := func(edit func(m map[string]any), status int, field string) {
		t.Helper()
		m := f.startup("bad")
		edit(m)
		code, body := f.post(t, "startup", apiKey, m)
		require.Equal(t, status, code, body)
		require.Contains(t, body, field)
		require.NotContains(t, body, password)
	}
	bad(func(m map[string]any) { delete(m, "callId") }, 400, "callId: required")
	bad(func(m map[string]any) { delete(m, "callee") }, 400, "callee: required")
	bad(func(m map[string]any) { m["callee"] = "a@b" }, 400, "callee:")
	bad(func(m map[string]any) { m["sipPort"] = "5060" }, 400, "sipPort: must be")
	bad(func(m map[string]any) { m["sipPort"] = 70000 }, 400, "sipPort: 1 to 65535")
	bad(func(m map[string]any) { m["calee"] = "x" }, 400, "calee: no such field")
	bad(func(m map[string]any) { m["rtmpUrl"] = "http://127.0.0.1/live" }, 400, "rtmpUrl:")
	bad(func(m map[string]any) { delete(m, "rtmpStream") }, 400, "rtmpStream: required")
	bad(func(m map[string]any) { m["sipRegisterRequired"] = true; delete(m, "sipLogin") }, 400, "sipLogin: required")
	bad(func(m map[string]any) { m["rtmpUrl"] = "rtmp://203.0.113.9/live" }, 403, "rtmpUrl: 203.0.113.9 is not among")
	bad(func(m map[string]any) { m["sipDomain"] = "pbx.example.com" }, 403, "sipDomain: pbx.example.com is not among")
	bad(func(m map[string]any) { m["sipOutboundProxy"] = "203.0.113.9:5060" }, 403, "sipOutboundProxy:")
	code, body := f.post(t, "startup", apiKey, "{")
	require.Equal(t, 400, code, body)
	code, body = f.post(t, "startup", apiKey, `{"callId": "x"}{"callId": "y"}`)
	require.Equal(t, 400, code, body)
	code, body = f.post(t, "startup", apiKey, strings.Repeat(" ", 17<<10)+"{}")
	require.Equal(t, http.StatusRequestEntityTooLarge, code, body)

	code, body = f.post(t, "startup", apiKey, ok)
	require.Equal(t, 200, code, body)
	code, body = f.post(t, "startup", apiKey, ok)
	require.Equal(t, http.StatusConflict, code, body)
	require.Contains(t, body, "callId")
	same := f.startup("e2")
	same["rtmpStream"] = ok["rtmpStream"]
	code, body = f.post(t, "startup", apiKey, same)
	require.Equal(t, http.StatusConflict, code, body)
	require.Contains(t, body, "rtmpStream")
	require.NotContains(t, body, streamKey)

	for _, path := range []string{"find", "terminate"} {
		code, body = f.post(t, path, apiKey, map[string]string{"callId": "nobody"})
		require.Equal(t, http.StatusNotFound, code, body)
	}
	code, body = f.post(t, "send_dtmf", apiKey, map[string]string{"callId": "e1", "dtmf": "1x"})
	require.Equal(t, 400, code, body)
	require.Contains(t, body, "dtmf:")
	code, body = f.post(t, "send_dtmf", apiKey, map[string]string{"callId": "e1", "dtmf": "1", "type": "carrier-pigeon"})
	require.Equal(t, 400, code, body)
	require.Contains(t, body, "type:")

	// A busy callee.
	busy, err := sip.New(sip.WithUDP("127.0.0.1:0"), sip.WithInviteHandler(func(*sip.Call) ([]byte, error) {
		return nil, &sip.StatusError{Code: 486, Reason: "Busy Here"}
	}))
	require.NoError(t, err)
	defer busy.Close()
	m := f.startup("e3")
	m["sipPort"] = busy.UDPAddr().(*net.UDPAddr).Port
	code, body = f.post(t, "startup", apiKey, m)
	require.Equal(t, 200, code, body)
	var c relay.Call
	require.Eventually(t, func() bool {
		c = f.find(t, "e3")
		return c.Status == relay.StatusFailed
	}, 20*time.Second, 10*time.Millisecond)
	require.Equal(t, 486, c.SIPStatus)
	require.Equal(t, "the callee is busy (486 Busy Here)", c.EndReason)
	code, body = f.post(t, "find", apiKey, map[string]string{"status": "FAILED"})
	require.Equal(t, 200, code, body)
	require.Contains(t, body, `"callId":"e3"`)
	require.NotContains(t, body, `"callId":"e1"`)
	require.NotContains(t, fmt.Sprint(f.logs.String()), password)
}

func httptestServer(t *testing.T, h http.Handler) *httptest.Server {
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// The RTMP server is down when the call starts: the call is connected and its stream
// retries, the reason on find; once a server listens there, the stream publishes and
// the call carries on. The server then restarts mid-call: the stream retries and
// publishes again, the call up throughout.
func TestRelayRTMPDownAtStartGoOnly(t *testing.T) {
	peer.CheckNoLeaks(t)
	f := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a port nobody listens on once closed
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	m := f.startup("down")
	m["rtmpUrl"] = "rtmp://" + addr + "/live"
	code, body := f.post(t, "startup", apiKey, m)
	require.Equal(t, http.StatusOK, code, body)
	var c relay.Call
	require.Eventually(t, func() bool {
		c = f.find(t, "down")
		return c.Status == relay.StatusEstablished && c.StreamStatus == relay.StreamRetrying
	}, 20*time.Second, 10*time.Millisecond, "%+v", c)
	require.Contains(t, c.StreamReason, "RTMP server refused the connection")
	require.NotContains(t, c.StreamReason, streamKey)
	// A server comes up there: the stream publishes, the call up.
	publishes := func() *rtmp.Server {
		srv, err := rtmp.NewServer()
		require.NoError(t, err)
		t.Cleanup(func() { srv.Close() })
		_, err = srv.Listen(addr)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			c = f.find(t, "down")
			return c.StreamStatus == relay.StreamPublishing
		}, 30*time.Second, 10*time.Millisecond, "%+v", c)
		require.Equal(t, relay.StatusEstablished, c.Status)
		return srv
	}
	srv := publishes()
	// The server restarts mid-call: the stream retries, then publishes again, and the
	// call stays up throughout.
	require.NoError(t, srv.Close())
	require.Eventually(t, func() bool { return f.find(t, "down").StreamStatus == relay.StreamRetrying }, 30*time.Second, 10*time.Millisecond)
	publishes()
}

// The callee hangs up: the call ends with that reason. REST hooks are tried again when
// the hook server fails (a 500 first), and a hook server that never answers holds no
// call back (the call connects and ends while its hooks wait).
func TestRelayCalleeHangsUpAndHooksGoOnly(t *testing.T) {
	peer.CheckNoLeaks(t)
	var mu sync.Mutex
	attempts := map[string]int{}
	release := make(chan struct{})
	hookSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var h relay.Hook
		_ = json.Unmarshal(b, &h)
		key := h.CallID + " " + h.Event + " " + h.Status + " " + h.StreamStatus
		mu.Lock()
		attempts[key]++
		n := attempts[key]
		mu.Unlock()
		switch {
		case h.CallID == "stuck":
			<-release // never answers while the test runs
		case n == 1:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer hookSrv.Close()
	f := newFixture(t)
	for _, id := range []string{"bye", "stuck"} {
		svc, err := relay.New(relay.Config{Bridge: conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}},
			Keys: []string{apiKey}, RTMPHosts: []string{"127.0.0.1"}, SIPDomains: []string{"127.0.0.1"}, Hook: hookSrv.URL})
		require.NoError(t, err)
		g := &fixture{svc: svc, api: httptestServer(t, svc.Handler()), rtmpURL: f.rtmpURL, callee: f.callee}
		code, body := g.post(t, "startup", apiKey, g.startup(id))
		require.Equal(t, http.StatusOK, code, body)
		require.Eventually(t, func() bool { return g.find(t, id).Status == relay.StatusEstablished }, 20*time.Second, 10*time.Millisecond)
		// The callee hangs up.
		var calleeID string
		for _, c := range f.callee.Calls() {
			if strings.Contains(c.Remote, "alice") {
				calleeID = c.ID
			}
		}
		require.NotEmpty(t, calleeID)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		require.NoError(t, f.callee.EndCall(ctx, calleeID))
		cancel()
		require.Eventually(t, func() bool { return g.find(t, id).Status == relay.StatusFinished }, 20*time.Second, 10*time.Millisecond)
		require.Equal(t, "the callee hung up", g.find(t, id).EndReason)
		if id == "bye" {
			require.NoError(t, svc.Close())
			mu.Lock()
			n := attempts["bye CallStatusEvent ESTABLISHED PENDING"]
			mu.Unlock()
			require.Equal(t, 2, n, "the ESTABLISHED hook, failed once, sent again: %v", attempts)
		} else {
			close(release)
			require.NoError(t, svc.Close())
		}
	}
}

// The page's player link is the operator's PlayerURL with the client's toStream and
// callId escaped: a client cannot make it point elsewhere.
func TestRelayPlayerLinkEscapedGoOnly(t *testing.T) {
	peer.CheckNoLeaks(t)
	f := newFixture(t)
	svc, err := relay.New(relay.Config{Bridge: conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}},
		Keys: []string{apiKey}, RTMPHosts: []string{"127.0.0.1"}, SIPDomains: []string{"127.0.0.1"}, PlayerURL: "https://watch.example/{toStream}"})
	require.NoError(t, err)
	defer svc.Close()
	g := &fixture{svc: svc, api: httptestServer(t, svc.Handler()), rtmpURL: f.rtmpURL, callee: f.callee}
	m := g.startup("p1")
	m["toStream"] = `x/../../evil.example?"><script>`
	code, body := g.post(t, "startup", apiKey, m)
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "https://watch.example/x%2F..%2F..%2Fevil.example%3F%22%3E%3Cscript%3E", g.find(t, "p1").Player)
	// Terminated once answered: a CANCEL crossing the callee's 200 leaves a sipgo UDP
	// reader running after Close (noted, not this test's subject).
	require.Eventually(t, func() bool { return g.find(t, "p1").Status == relay.StatusEstablished }, 20*time.Second, 10*time.Millisecond)
	code, body = g.post(t, "terminate", apiKey, map[string]string{"callId": "p1"})
	require.Equal(t, http.StatusOK, code, body)
	require.Eventually(t, func() bool {
		s := g.find(t, "p1").Status
		return s == relay.StatusFinished || s == relay.StatusFailed
	}, 10*time.Second, 10*time.Millisecond)
}

// A callee that answers and then sends nothing: the Bridge's media timeout ends the
// call (BYE to the callee), and find says why in words.
func TestRelayMediaTimeoutGoOnly(t *testing.T) {
	peer.CheckNoLeaks(t)
	srv, err := rtmp.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	addr, err := srv.Listen("127.0.0.1:0")
	require.NoError(t, err)
	silent := make(chan *sip.Call, 1)
	callee, err := sip.New(sip.WithUDP("127.0.0.1:0"), sip.WithInviteHandler(func(c *sip.Call) ([]byte, error) {
		silent <- c
		return []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"), nil
	}))
	require.NoError(t, err)
	defer callee.Close()
	svc, err := relay.New(relay.Config{Bridge: conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, MediaTimeout: time.Second},
		Keys: []string{apiKey}, RTMPHosts: []string{"127.0.0.1"}, SIPDomains: []string{"127.0.0.1"}})
	require.NoError(t, err)
	defer svc.Close()
	f := &fixture{svc: svc, api: httptestServer(t, svc.Handler())}
	code, body := f.post(t, "startup", apiKey, map[string]any{"callId": "quiet", "callee": "ivr", "sipDomain": "127.0.0.1",
		"sipPort": callee.UDPAddr().(*net.UDPAddr).Port, "rtmpUrl": "rtmp://" + addr.String() + "/live", "rtmpStream": "q", "hasVideo": false})
	require.Equal(t, http.StatusOK, code, body)
	c := <-silent
	var got relay.Call
	require.Eventually(t, func() bool { got = f.find(t, "quiet"); return got.Status == relay.StatusFinished }, 20*time.Second, 10*time.Millisecond, "%+v", got)
	require.Equal(t, "no media from the callee for 1s (media timeout)", got.EndReason)
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the callee got no BYE")
	}
}
