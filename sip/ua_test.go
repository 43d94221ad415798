package sip

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/sip/sdp"
)

// streamer returns a UA that answers like a CMS streamer and reports its calls.
func streamer(t *testing.T, opts ...Option) (*UA, chan *Call) {
	calls := make(chan *Call, 16)
	answer := func(c *Call) ([]byte, error) {
		ans, _, err := sdp.Answer(c.Offer, sdp.Config{Address: net.IPv4(127, 0, 0, 1),
			Ports: func(kind string, i int) (int, int) { return 30000, 30001 }})
		if err != nil {
			return nil, &StatusError{Code: 488, Reason: "Not Acceptable Here"}
		}
		calls <- c
		return ans, nil
	}
	u, err := New(append([]Option{WithUDP("127.0.0.1:0"), WithInviteHandler(answer)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { u.Close() })
	return u, calls
}

func runSipp(t *testing.T, u *UA, args ...string) *peer.Process {
	sipp := peer.Require(t, "sipp", "sip-tester")
	p := peer.Start(t, sipp, append([]string{u.UDPAddr().String(), "-i", "127.0.0.1", "-p", fmt.Sprint(peer.FreePort(t)),
		"-mp", fmt.Sprint(peer.FreeUDPPorts(t, 4)), "-m", "1", "-timeout", "20s", "-timeout_error", "-nostdin"}, args...)...)
	return p
}

// sippCall starts sipp and returns it with the call it placed. A sipp that exits before
// its call arrives fails the test with its output instead of leaving it waiting; one that
// could not bind its port (taken between FreePort and sipp's bind) is started once more.
func sippCall(t *testing.T, u *UA, calls chan *Call, args ...string) (*peer.Process, *Call) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		p := runSipp(t, u, args...)
		select {
		case c := <-calls:
			return p, c
		case <-p.Done():
			select {
			case c := <-calls:
				return p, c
			default:
			}
			if attempt == 1 && strings.Contains(strings.ToLower(p.Output()), "bind") {
				t.Logf("sipp could not bind, starting it again:\n%s", p.Output())
				continue
			}
			t.Fatalf("sipp exited before its call arrived:\n%s", p.Output())
		case <-time.After(time.Minute):
			t.Fatalf("no call from sipp within a minute:\n%s", p.Output())
		}
	}
}

func TestInteropSippUAC(t *testing.T) {
	u, calls := streamer(t)
	p := runSipp(t, u, "-sn", "uac")
	require.NoError(t, p.Wait(time.Minute), p.Output())
	c := <-calls
	<-c.Done()
	require.Equal(t, "remote hung up (BYE)", c.EndReason())
	require.Zero(t, u.Calls())
}

// sipp's uac_pcap: the call plays an RTP capture of PCMA audio (shipped with sipp) into
// our media session, which rebuilds the frames.
func TestInteropSippUACPcap(t *testing.T) {
	sipp := peer.Require(t, "sipp", "sip-tester")
	pcap := "/usr/share/sip-tester/g711a.pcap"
	peer.RequireFile(t, pcap, "sip-tester")
	out, _ := exec.Command(sipp, "-sd", "uac_pcap").Output() // sipp exits 99 after a dump
	require.Contains(t, string(out), "play_pcap_audio", "sipp -sd uac_pcap")
	// The built-in scenario names the capture relative to sipp's working directory.
	scenario := filepath.Join(t.TempDir(), "uac_pcap.xml")
	xml := strings.ReplaceAll(string(out), `play_pcap_audio="pcap/g711a.pcap"`, `play_pcap_audio="`+pcap+`"`)
	xml = strings.ReplaceAll(xml, `play_pcap_audio="pcap/dtmf_2833_1.pcap"`, `play_pcap_audio="/usr/share/sip-tester/dtmf_2833_1.pcap"`)
	require.NoError(t, os.WriteFile(scenario, []byte(xml), 0o644))
	u, calls, ms, fc := mediaStreamer(t, []sdp.Codec{{Name: "PCMA", ClockRate: 8000}})
	p, c := sippCall(t, u, calls, "-sf", scenario)
	require.Equal(t, "PCMA", ms()[0].Codec)
	require.NoError(t, p.Wait(time.Minute), p.Output())
	<-c.Done()
	require.Equal(t, "remote hung up (BYE)", c.EndReason())
	require.Positive(t, fc.count(media.CodecPCMA), "PCMA frames rebuilt from sipp's capture")
	t.Logf("PCMA frames: %d", fc.count(media.CodecPCMA))
}

func TestInteropSippCallBridge(t *testing.T) {
	u, calls := streamer(t)
	p := runSipp(t, u, "-sf", filepath.Join("testdata", "callbridge_uac.xml"))
	require.NoError(t, p.Wait(time.Minute), p.Output())
	c := <-calls
	require.Equal(t, "rtmp://broadcast:broadcast@127.0.0.1/live/SpaceStream77", c.StreamURL())
	require.Equal(t, "Acano CallBridge", c.UserAgent)
	_, ok := c.ContactParam("isfocus")
	require.True(t, ok)
	<-c.Done()
}

func TestCallLimit(t *testing.T) {
	hold := make(chan struct{})
	var once sync.Once
	u, err := New(WithUDP("127.0.0.1:0"), WithCallLimit(1), WithInviteHandler(func(c *Call) ([]byte, error) {
		once.Do(func() { <-hold }) // the first call stays ringing
		return nil, &StatusError{Code: 486, Reason: "Busy Here"}
	}))
	require.NoError(t, err)
	defer u.Close()
	sipp := peer.Require(t, "sipp", "sip-tester")
	first := peer.Start(t, sipp, u.UDPAddr().String(), "-sn", "uac", "-i", "127.0.0.1", "-p", fmt.Sprint(peer.FreePort(t)),
		"-mp", fmt.Sprint(peer.FreeUDPPorts(t, 4)), "-m", "1", "-timeout", "20s", "-nostdin")
	require.Eventually(t, func() bool { return u.Calls() == 1 }, 10*time.Second, 10*time.Millisecond)
	// A second INVITE while the first rings: sipp's scenario requires 503 with Retry-After.
	second := peer.Start(t, sipp, u.UDPAddr().String(), "-sf", filepath.Join("testdata", "uac_expect_503.xml"), "-i", "127.0.0.1",
		"-p", fmt.Sprint(peer.FreePort(t)), "-m", "1", "-timeout", "10s", "-timeout_error", "-nostdin")
	require.NoError(t, second.Wait(time.Minute), second.Output())
	close(hold)
	require.Error(t, first.Wait(time.Minute), "486 ends the first call as a failure for sipp's uac")
}

func TestContactParams(t *testing.T) {
	p := contactParams(`<sip:test4@14.49.17.236;transport=tcp>;audio;video;x-cisco-tip;x-cisco-multiple-screen=3;isFocus;x-cisco-stream="rtmp://broadcast:broadcast@172.18.105.43/live/CMS3"`)
	require.Equal(t, "rtmp://broadcast:broadcast@172.18.105.43/live/CMS3", p["x-cisco-stream"])
	require.Equal(t, "3", p["x-cisco-multiple-screen"])
	_, ok := p["isfocus"]
	require.True(t, ok)
	require.NotContains(t, p, "transport", "URI parameters are not header parameters")
	require.Equal(t, "a;b", contactParams(`<sip:x@y>;q="a;b"`)["q"], "quoted semicolons")
	require.Empty(t, contactParams(`<sip:x@y>`))
}

func FuzzContactParams(f *testing.F) {
	f.Add(`<sip:test4@14.49.17.236;transport=tcp>;audio;x-cisco-stream="rtmp://h/a/s"`)
	f.Add(`sip:x@y;a=b`)
	f.Fuzz(func(t *testing.T, v string) {
		for k := range contactParams(v) {
			require.NotContains(t, k, ";")
		}
	})
}

func TestCloseJoinsGoroutines(t *testing.T) {
	peer.CheckNoLeaks(t)
	u, _ := streamer(t)
	p := runSipp(t, u, "-sn", "uac")
	require.NoError(t, p.Wait(time.Minute), p.Output())
	require.NoError(t, u.Close())
	require.NoError(t, u.Close(), "Close is idempotent")
}

// The Call Bridge moves the stream URL with an UPDATE (CMS 3.1) and re-INVITEs: the call
// shows the new URL and the application is told.
func TestInteropSippUpdateMovesStreamURL(t *testing.T) {
	updated := make(chan string, 4)
	u, calls := streamer(t, WithCallUpdated(func(c *Call, offer []byte) ([]byte, error) {
		updated <- c.StreamURL()
		if len(offer) == 0 {
			return nil, nil
		}
		ans, _, err := sdp.Answer(offer, sdp.Config{Address: net.IPv4(127, 0, 0, 1),
			Ports: func(kind string, i int) (int, int) { return 30000, 30001 }})
		return ans, err
	}))
	p := runSipp(t, u, "-sf", filepath.Join("testdata", "callbridge_update.xml"))
	require.NoError(t, p.Wait(time.Minute), p.Output())
	c := <-calls
	require.Equal(t, "rtmp://broadcast:broadcast@127.0.0.1/live/Moved78", <-updated, "UPDATE")
	require.Equal(t, "", <-updated, "the re-INVITE's Contact has no stream URL")
	<-c.Done()
}

// A caller that cancels while we ring: the handler sees Done and the call ends with the
// reason; sipp gets 200 for the CANCEL and 487 for the INVITE.
func TestInteropSippCancel(t *testing.T) {
	ended := make(chan *Call, 1)
	u, err := New(WithUDP("127.0.0.1:0"), WithInviteHandler(func(c *Call) ([]byte, error) {
		<-c.Done() // an application still resolving where to stream
		ended <- c
		return nil, &StatusError{Code: 480, Reason: "Temporarily Unavailable"}
	}))
	require.NoError(t, err)
	t.Cleanup(func() { u.Close() })
	p := runSipp(t, u, "-sf", filepath.Join("testdata", "cancel.xml"))
	require.NoError(t, p.Wait(time.Minute), p.Output())
	c := <-ended
	require.Equal(t, "caller cancelled (CANCEL)", c.EndReason())
	require.Zero(t, u.Calls())
}

// A late offer: the INVITE has no SDP, our offer goes in the 200 OK (sdp.Offer) and the
// caller's answer, from the ACK, is negotiated.
func TestInteropSippLateOffer(t *testing.T) {
	calls := make(chan *Call, 1)
	cfg := sdp.Config{Address: net.IPv4(127, 0, 0, 1), Ports: func(kind string, i int) (int, int) {
		if kind == "audio" {
			return 30000, 30001
		}
		return 30002, 30003
	}}
	u, err := New(WithUDP("127.0.0.1:0"), WithInviteHandler(func(c *Call) ([]byte, error) {
		require.Empty(t, c.Offer)
		calls <- c
		return sdp.Offer(cfg)
	}))
	require.NoError(t, err)
	t.Cleanup(func() { u.Close() })
	p, c := sippCall(t, u, calls, "-sf", filepath.Join("testdata", "late_offer.xml"))
	<-c.Confirmed()
	media, err := sdp.Negotiate(c.RemoteSDP(), cfg)
	require.NoError(t, err)
	require.Len(t, media, 2)
	require.Equal(t, "PCMU", media[0].Codec)
	require.Equal(t, "H264", media[1].Codec)
	require.Equal(t, "recvonly", media[1].Direction)
	require.NoError(t, p.Wait(time.Minute), p.Output())
	<-c.Done()
	require.Equal(t, "remote hung up (BYE)", c.EndReason())
}

// RFC 4028 session timers: we refresh when we are the refresher, end the call when the
// caller was to refresh and did not, and refuse intervals below our minimum with 422.
func TestInteropSippSessionTimers(t *testing.T) {
	t.Run("we refresh", func(t *testing.T) {
		u, calls := streamer(t, WithMinSessionExpires(time.Second))
		p, c := sippCall(t, u, calls, "-sf", filepath.Join("testdata", "timer_refresher_uas.xml"))
		require.NoError(t, p.Wait(time.Minute), p.Output())
		<-c.Done()
		require.Equal(t, "remote hung up (BYE)", c.EndReason())
		d, who := c.SessionExpires()
		require.Equal(t, 2*time.Second, d)
		require.Equal(t, "uas", who)
	})
	t.Run("caller never refreshes", func(t *testing.T) {
		u, calls := streamer(t, WithMinSessionExpires(time.Second))
		p, c := sippCall(t, u, calls, "-sf", filepath.Join("testdata", "timer_expires.xml"))
		require.NoError(t, p.Wait(time.Minute), p.Output())
		<-c.Done()
		require.Equal(t, "session timer expired: no refresh from the caller within 2s", c.EndReason())
	})
	t.Run("too small", func(t *testing.T) {
		u, _ := streamer(t)
		p := runSipp(t, u, "-sf", filepath.Join("testdata", "timer_too_small.xml"))
		require.NoError(t, p.Wait(time.Minute), p.Output())
		require.Zero(t, u.Calls())
	})
}
