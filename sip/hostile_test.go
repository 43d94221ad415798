package sip

import (
	"fmt"
	"net"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The hostile-peer suite for SIP: every test drives the real UDP listener over loopback
// from raw sockets, as an attacker would, and checks that nothing changed.

// rawSIP is a UDP socket that speaks SIP by hand.
type rawSIP struct {
	t    *testing.T
	conn *net.UDPConn
	to   net.Addr
}

func newRawSIP(t *testing.T, to net.Addr) *rawSIP {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return &rawSIP{t: t, conn: conn, to: to}
}

func (r *rawSIP) local() string { return r.conn.LocalAddr().String() }

func (r *rawSIP) send(msg string) {
	r.t.Helper()
	_, err := r.conn.WriteTo([]byte(msg), r.to)
	require.NoError(r.t, err)
}

// expect reads until a final response (>= 200) to method for callID and returns it.
func (r *rawSIP) expect(callID, method string) string {
	r.t.Helper()
	buf := make([]byte, 65536)
	require.NoError(r.t, r.conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	for {
		n, _, err := r.conn.ReadFrom(buf)
		require.NoError(r.t, err, "no final answer to %s for %s", method, callID)
		msg := string(buf[:n])
		if !strings.HasPrefix(msg, "SIP/2.0 ") || !strings.Contains(msg, callID) ||
			!regexp.MustCompile(`(?mi)^CSeq:\s*\d+\s+`+method+`\s*$`).MatchString(msg) {
			continue
		}
		if code := msg[8:11]; code[0] == '1' {
			continue
		}
		return msg
	}
}

func statusOf(msg string) string { return msg[8:11] }

var toTagRe = regexp.MustCompile(`(?mi)^(?:To|t):.*;tag=([^;\s>]+)`)

const hostileOffer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 40000 RTP/AVP 96\r\na=rtpmap:96 MPEG4-GENERIC/48000/2\r\n" +
	"a=fmtp:96 streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1190\r\n"

// request builds a request from the peer at local; toTag "" leaves the To tag out.
func request(method, to, local, callID, fromTag, toTag string, cseq int, extra, body string) string {
	tt := ""
	if toTag != "" {
		tt = ";tag=" + toTag
	}
	ct := ""
	if body != "" {
		ct = "Content-Type: application/sdp\r\n"
	}
	return fmt.Sprintf("%s sip:streamer@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s-%d-%s\r\n"+
		"From: <sip:caller@%s>;tag=%s\r\nTo: <sip:streamer@%s>%s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n"+
		"Contact: <sip:caller@%s>%s\r\nMax-Forwards: 70\r\n%sContent-Length: %d\r\n\r\n%s",
		method, to, local, strings.ToLower(method), cseq, fromTag, local, fromTag, to, tt, callID, cseq, method,
		local, extra, ct, len(body), body)
}

// establish places a call from r and returns its To tag (ours).
func establish(t *testing.T, r *rawSIP, callID, fromTag, streamURL string) string {
	t.Helper()
	to := r.to.String()
	r.send(request("INVITE", to, r.local(), callID, fromTag, "", 1, `;x-cisco-stream="`+streamURL+`"`, hostileOffer))
	res := r.expect(callID, "INVITE")
	require.Equal(t, "200", statusOf(res), res)
	m := toTagRe.FindStringSubmatch(res)
	require.NotNil(t, m, res)
	r.send(request("ACK", to, r.local(), callID, fromTag, m[1], 1, "", ""))
	return m[1]
}

// In-dialog requests from another socket with the call's Call-ID but made-up tags (or a
// right From tag and a guessed To tag) get 481 and change nothing; the genuine peer's
// UPDATE still moves the stream, so the test tells the two apart.
func TestHostileForgedInDialogRequests(t *testing.T) {
	var updates atomic.Int32
	u, calls := streamer(t, WithCallUpdated(func(c *Call, offer []byte) ([]byte, error) {
		updates.Add(1)
		return nil, nil
	}))
	caller := newRawSIP(t, u.UDPAddr())
	const id = "forged-1@test"
	ourTag := establish(t, caller, id, "caller-tag", "rtmp://h/live/Original")
	c := <-calls
	<-c.Confirmed()

	evil := newRawSIP(t, u.UDPAddr())
	to := u.UDPAddr().String()
	moved := `;x-cisco-stream="rtmp://evil.example/live/Stolen"`
	forged := []struct{ method, fromTag, toTag string }{
		{"UPDATE", "made-up", "made-up"},
		{"UPDATE", "caller-tag", "guessed"}, // the From tag is visible to any on-path observer
		{"UPDATE", "made-up", ourTag},
		{"UPDATE", "caller-tag", ""},
		{"INVITE", "made-up", "made-up"},
		{"INFO", "made-up", "made-up"},
		{"BYE", "made-up", "made-up"},
		{"BYE", "caller-tag", "guessed"},
	}
	for i, f := range forged {
		body := ""
		if f.method == "INVITE" {
			body = hostileOffer
		}
		evil.send(request(f.method, to, evil.local(), id, f.fromTag, f.toTag, 10+i, moved, body))
		res := evil.expect(id, f.method)
		if f.toTag == "" {
			// Without a To tag an UPDATE is outside any dialog.
			require.Contains(t, []string{"481"}, statusOf(res), "%s without To tag:\n%s", f.method, res)
		} else {
			require.Equal(t, "481", statusOf(res), "forged %s from=%s to=%s:\n%s", f.method, f.fromTag, f.toTag, res)
		}
		if f.method == "INVITE" {
			evil.send(request("ACK", to, evil.local(), id, f.fromTag, f.toTag, 10+i, "", ""))
		}
	}
	require.Equal(t, "rtmp://h/live/Original", c.StreamURL(), "a forged request moved the stream")
	require.Equal(t, DialogEstablished, c.State(), "a forged request ended the call")
	require.Zero(t, updates.Load(), "the application was told of a forged update")

	caller.send(request("UPDATE", to, caller.local(), id, "caller-tag", ourTag, 2, `;x-cisco-stream="rtmp://h/live/Moved"`, ""))
	require.Equal(t, "200", statusOf(caller.expect(id, "UPDATE")))
	require.Equal(t, "rtmp://h/live/Moved", c.StreamURL(), "the genuine UPDATE moves the stream")
	require.EqualValues(t, 1, updates.Load())
}

// A second INVITE for a live Call-ID (another branch and From tag: no retransmission) is
// answered 482 and neither replaces nor ends the first call, also when the first ends.
func TestHostileDuplicateCallID(t *testing.T) {
	u, calls := streamer(t)
	caller := newRawSIP(t, u.UDPAddr())
	const id = "dup-1@test"
	ourTag := establish(t, caller, id, "first", "rtmp://h/live/First")
	c := <-calls
	<-c.Confirmed()

	evil := newRawSIP(t, u.UDPAddr())
	to := u.UDPAddr().String()
	evil.send(request("INVITE", to, evil.local(), id, "second", "", 1, `;x-cisco-stream="rtmp://evil/live/X"`, hostileOffer))
	res := evil.expect(id, "INVITE")
	require.Equal(t, "482", statusOf(res), res)
	evil.send(request("ACK", to, evil.local(), id, "second", toTagRe.FindStringSubmatch(res)[1], 1, "", ""))
	select {
	case c2 := <-calls:
		t.Fatalf("the duplicate INVITE reached the application: %+v", c2.From)
	default:
	}
	require.Equal(t, 1, u.Calls())
	require.Equal(t, DialogEstablished, c.State())
	require.Equal(t, "rtmp://h/live/First", c.StreamURL())

	caller.send(request("BYE", to, caller.local(), id, "first", ourTag, 2, "", ""))
	require.Equal(t, "200", statusOf(caller.expect(id, "BYE")))
	<-c.Done()
	require.Zero(t, u.Calls(), "the BYE ended the call it belongs to")
}

// floodInvites sends n INVITEs from r in windows of 100, acknowledges their final
// answers and returns when every one has had its final answer. Like a UAC's Timer A, an
// INVITE unanswered after a second is sent again (UDP may drop it under load).
func floodInvites(t *testing.T, r *rawSIP, n int, prefix string, cancel bool) {
	t.Helper()
	to := r.to.String()
	callRe := regexp.MustCompile(`(?mi)^Call-ID:\s*(\S+)`)
	buf := make([]byte, 65536)
	invite := func(id string) string { return request("INVITE", to, r.local(), id, "t"+id, "", 1, "", hostileOffer) }
	for base := 0; base < n; base += 100 {
		pending := map[string]bool{}
		for i := base; i < min(base+100, n); i++ {
			id := fmt.Sprintf("%s-%d@test", prefix, i)
			pending[id] = true
			r.send(invite(id))
		}
		for tries := 0; len(pending) > 0; {
			require.NoError(t, r.conn.SetReadDeadline(time.Now().Add(time.Second)))
			k, _, err := r.conn.ReadFrom(buf)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				tries++
				require.Less(t, tries, 30, "%d INVITEs never answered", len(pending))
				for id := range pending {
					r.send(invite(id))
				}
				continue
			}
			require.NoError(t, err)
			msg := string(buf[:k])
			if !strings.HasPrefix(msg, "SIP/2.0 ") || !strings.Contains(msg, " INVITE\r\n") {
				continue
			}
			id := callRe.FindStringSubmatch(msg)
			if id == nil || !pending[id[1]] {
				continue
			}
			tag := toTagRe.FindStringSubmatch(msg)
			switch {
			case cancel && msg[8:11] == "180":
				r.send(strings.Replace(request("CANCEL", to, r.local(), id[1], "t"+id[1], "", 1, "", ""),
					"branch=z9hG4bK-cancel-1-t", "branch=z9hG4bK-invite-1-t", 1))
			case msg[8] >= '2' && tag != nil:
				r.send(strings.Replace(request("ACK", to, r.local(), id[1], "t"+id[1], tag[1], 1, "", ""),
					"branch=z9hG4bK-ack-1-t", "branch=z9hG4bK-invite-1-t", 1))
				delete(pending, id[1])
			}
		}
	}
}

// 10,000 INVITEs answered 486, and cancelled ones, leave no dialog behind: the UA holds no
// call, and the heap after them is what it was (bounded per request, measured).
func TestHostileRejectedAndCancelledLeaveNoDialog(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 1000
	}
	mode := atomic.Value{}
	mode.Store("reject")
	u, err := New(WithUDP("127.0.0.1:0"), WithCallLimit(-1), WithInviteHandler(func(c *Call) ([]byte, error) {
		if mode.Load() == "cancel" {
			<-c.Done() // ringing until the caller cancels
			return nil, &StatusError{Code: 486, Reason: "Busy Here"}
		}
		return nil, &StatusError{Code: 486, Reason: "Busy Here"}
	}))
	require.NoError(t, err)
	defer u.Close()
	r := newRawSIP(t, u.UDPAddr())
	_ = r.conn.SetReadBuffer(8 << 20)

	floodInvites(t, r, 200, "warm", false) // sipgo's and our steady structures exist
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	floodInvites(t, r, n, "busy", false)
	mode.Store("cancel")
	floodInvites(t, r, n/10, "cancel", true)
	require.Eventually(t, func() bool { return u.Calls() == 0 }, 10*time.Second, time.Millisecond, "calls left: %d", u.Calls())
	// sipgo keeps each server transaction until it terminates (Timer I, 5 s after the
	// ACK of a non-2xx answer; Timer H, 32 s, without one): about 10 KiB each until then.
	// A dialog kept after its call keeps its INVITE for ever, so the heap must come back
	// to where it was once those timers have run.
	var growth int64
	require.Eventually(t, func() bool {
		runtime.GC()
		runtime.ReadMemStats(&after)
		growth = int64(after.HeapInuse) - int64(before.HeapInuse)
		return growth < int64(n)*64
	}, 45*time.Second, 100*time.Millisecond, "heap growth %d KiB after the INVITEs' transactions ended: dialogs are kept", growth>>10)
	t.Logf("heap growth after %d rejected and %d cancelled INVITEs: %d KiB", n, n/10, growth>>10)
}

// Calls answered 200 whose ACK never comes (a caller gone, or one that holds our calls
// open on purpose) end at the ACK timeout and release their dialogs; one that is
// acknowledged is confirmed and stays.
func TestHostileUnacknowledgedAnswersEnd(t *testing.T) {
	u, calls := streamer(t, WithACKTimeout(300*time.Millisecond))
	r := newRawSIP(t, u.UDPAddr())
	to := u.UDPAddr().String()
	const n = 50
	var ended []*Call
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("noack-%d@test", i)
		r.send(request("INVITE", to, r.local(), id, "t"+id, "", 1, "", hostileOffer))
		require.Equal(t, "200", statusOf(r.expect(id, "INVITE")))
		ended = append(ended, <-calls)
	}
	good := newRawSIP(t, u.UDPAddr())
	establish(t, good, "acked@test", "g", "rtmp://h/live/x")
	c := <-calls
	<-c.Confirmed()
	for _, e := range ended {
		<-e.Done()
		require.Contains(t, e.EndReason(), "no ACK for our 200 OK")
	}
	require.Equal(t, 1, u.Calls(), "only the acknowledged call is left")
	require.Equal(t, DialogEstablished, c.State())
}

// Concurrent INVITEs cannot pass the call limit together: admission is one step. 40
// INVITEs at once against a limit of 5, with calls that stay ringing: exactly 5 reach the
// application, the rest get 503.
func TestHostileConcurrentInvitesRespectTheLimit(t *testing.T) {
	hold := make(chan struct{})
	var admitted atomic.Int32
	u, err := New(WithUDP("127.0.0.1:0"), WithCallLimit(5), WithInviteHandler(func(c *Call) ([]byte, error) {
		admitted.Add(1)
		select {
		case <-hold:
		case <-c.Done():
		}
		return nil, &StatusError{Code: 486, Reason: "Busy Here"}
	}))
	require.NoError(t, err)
	defer u.Close()
	defer close(hold)
	to := u.UDPAddr().String()
	results := make(chan string, 40)
	peers := make([]*rawSIP, 40)
	for i := range peers {
		peers[i] = newRawSIP(t, u.UDPAddr())
	}
	for i, r := range peers {
		go func() {
			id := fmt.Sprintf("race-%d@test", i)
			if _, err := r.conn.WriteTo([]byte(request("INVITE", to, r.local(), id, "t"+id, "", 1, "", hostileOffer)), r.to); err != nil {
				results <- err.Error()
				return
			}
			buf := make([]byte, 4096)
			_ = r.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			for {
				n, _, err := r.conn.ReadFrom(buf)
				if err != nil {
					results <- "no answer"
					return
				}
				if m := string(buf[:n]); strings.HasPrefix(m, "SIP/2.0 ") {
					results <- m[8:11] // 100 Trying for an admitted call
					return
				}
			}
		}()
	}
	codes := map[string]int{}
	for range 40 {
		codes[<-results]++
	}
	require.Equal(t, 5, int(admitted.Load()), "calls admitted past the limit: %v", codes)
	require.Equal(t, 35, codes["503"], "%v", codes)
	require.Equal(t, 5, u.Calls())
}
