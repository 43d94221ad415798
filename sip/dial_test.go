package sip

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
)

const offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n"

// callee starts sipp as a UAS on a free port and returns its SIP URI.
func callee(t *testing.T, args ...string) (string, *peer.Process) {
	sipp := peer.Require(t, "sipp", "sip-tester")
	port := peer.FreePort(t)
	p := peer.Start(t, sipp, append([]string{"-i", "127.0.0.1", "-p", fmt.Sprint(port), "-mp", fmt.Sprint(peer.FreeUDPPorts(t, 4)),
		"-m", "1", "-timeout", "20s", "-timeout_error", "-nostdin"}, args...)...)
	// sipp's UAS listens once it has started; the INVITE is retransmitted until then.
	return fmt.Sprintf("sip:service@127.0.0.1:%d", port), p
}

func caller(t *testing.T) *UA {
	u, err := New(WithUDP("127.0.0.1:0"))
	require.NoError(t, err)
	t.Cleanup(func() { u.Close() })
	return u
}

func TestInteropDialSippUAS(t *testing.T) {
	target, p := callee(t, "-sn", "uas")
	u := caller(t)
	c, err := u.Dial(context.Background(), target, []byte(offer), DialOptions{Timeout: 10 * time.Second})
	require.NoError(t, err)
	require.Contains(t, string(c.Answer), "m=audio")
	require.NoError(t, c.Hangup(context.Background()))
	<-c.Done()
	require.NoError(t, p.Wait(time.Minute), p.Output())
}

func TestInteropDialDigest(t *testing.T) {
	target, p := callee(t, "-sf", filepath.Join("testdata", "uas_digest.xml"))
	u := caller(t)
	c, err := u.Dial(context.Background(), target, []byte(offer), DialOptions{Username: "alice", Password: "s3cret-digest", Timeout: 10 * time.Second})
	require.NoError(t, err)
	require.NoError(t, c.Hangup(context.Background()))
	require.NoError(t, p.Wait(time.Minute), "sipp verified our digest response:\n%s", p.Output())
}

// Through an outbound proxy that challenges with 407 and record-routes: the Request-URI
// stays the dialled one, the digest is answered in Proxy-Authorization (sipp verifies
// it), and the BYE follows the route set.
func TestInteropDialProxy407(t *testing.T) {
	target, p := callee(t, "-sf", filepath.Join("testdata", "proxy_407.xml"))
	proxy := strings.TrimPrefix(target, "sip:service@")
	u := caller(t)
	c, err := u.Dial(context.Background(), "sip:service@callee.test", []byte(offer),
		DialOptions{Username: "alice", Password: "s3cret-digest", Proxy: proxy, Timeout: 10 * time.Second})
	require.NoError(t, err)
	require.NoError(t, c.Hangup(context.Background()))
	require.NoError(t, p.Wait(time.Minute), "sipp verified the route and the digest:\n%s", p.Output())
}

func TestInteropDialWrongPassword(t *testing.T) {
	target, p := callee(t, "-sf", filepath.Join("testdata", "uas_digest.xml"))
	u := caller(t)
	_, err := u.Dial(context.Background(), target, []byte(offer), DialOptions{Username: "alice", Password: "not-the-pw-42", Timeout: 3 * time.Second})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "not-the-pw-42")
	require.Error(t, p.Wait(time.Minute), "sipp refused the digest")
}

func TestInteropDialBusy(t *testing.T) {
	target, p := callee(t, "-sf", filepath.Join("testdata", "uas_busy.xml"))
	u := caller(t)
	_, err := u.Dial(context.Background(), target, []byte(offer), DialOptions{Timeout: 10 * time.Second})
	var rej *StatusError
	require.ErrorAs(t, err, &rej)
	require.Equal(t, 486, rej.Code)
	require.ErrorIs(t, err, ErrBusy)
	require.Contains(t, err.Error(), "486 Busy Here")
	require.NoError(t, p.Wait(time.Minute), p.Output())
}

// A peer that never answers (a UDP port that swallows everything) ends with the CMS
// reason.
func TestDialNoProvisional(t *testing.T) {
	hole, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer hole.Close()
	u := caller(t)
	_, err = u.Dial(context.Background(), "sip:nobody@"+hole.LocalAddr().String(), []byte(offer), DialOptions{Timeout: time.Second})
	require.ErrorIs(t, err, ErrNoProvisional)
	require.Contains(t, err.Error(), "transaction timeout - no provisional responses sending INVITE")
}

func TestDialCloseJoinsGoroutines(t *testing.T) {
	peer.CheckNoLeaks(t)
	target, p := callee(t, "-sn", "uas")
	u, err := New(WithUDP("127.0.0.1:0"))
	require.NoError(t, err)
	c, err := u.Dial(context.Background(), target, []byte(offer), DialOptions{Timeout: 10 * time.Second})
	require.NoError(t, err)
	require.NoError(t, u.Close(), "Close hangs up the outbound call")
	<-c.Done()
	require.NoError(t, p.Wait(time.Minute), p.Output())
}

// A caller that puts x-cisco-stream in its Contact, as a Call Bridge does, hands the
// callee its stream URL, quotes and all.
func TestDialContactParams(t *testing.T) {
	got := make(chan string, 1)
	callee, err := New(WithUDP("127.0.0.1:0"), WithInviteHandler(func(c *Call) ([]byte, error) {
		got <- c.StreamURL()
		return []byte(offer), nil
	}))
	require.NoError(t, err)
	defer callee.Close()
	u := caller(t)
	const url = `rtmp://user:p@ss@127.0.0.1:1935/live/space-77?token="x"`
	c, err := u.Dial(context.Background(), "sip:streamer@"+callee.UDPAddr().String(), []byte(offer),
		DialOptions{Timeout: 10 * time.Second, ContactParams: map[string]string{"x-cisco-stream": url}})
	require.NoError(t, err)
	require.Equal(t, url, <-got)
	require.NoError(t, c.Hangup(context.Background()))
}
