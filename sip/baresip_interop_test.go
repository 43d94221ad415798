package sip

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/sip/sdp"
)

type frameCounter struct {
	mu     sync.Mutex
	frames map[media.Codec]int
	keys   int
	annexB bytes.Buffer
}

func (f *frameCounter) add(fr *media.Frame) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frames[fr.Codec]++
	if fr.Codec == media.CodecH264 {
		if fr.Keyframe {
			f.keys++
		}
		for b := fr.Data; len(b) >= 4; {
			n := int(binary.BigEndian.Uint32(b))
			if n > len(b)-4 {
				break
			}
			f.annexB.Write([]byte{0, 0, 0, 1})
			f.annexB.Write(b[4 : 4+n])
			b = b[4+n:]
		}
	}
}

func (f *frameCounter) count(c media.Codec) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.frames[c]
}

// mediaStreamer returns a UDP UA that answers calls with real media sessions (audio
// codecs as given, H.264 video) and counts the frames they rebuild; ms returns the
// negotiated media of the last call.
func mediaStreamer(t *testing.T, audio []sdp.Codec) (u *UA, calls chan *Call, ms func() []sdp.Media, fc *frameCounter) {
	fc = &frameCounter{frames: map[media.Codec]int{}}
	newSession := func() *media.Session {
		s, err := media.NewSession(media.WithLocalIP(net.IPv4(127, 0, 0, 1)), media.WithFrames(fc.add))
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
	sessions := map[string]*media.Session{"audio": newSession(), "video": newSession()}
	var mu sync.Mutex
	var negotiated []sdp.Media
	calls = make(chan *Call, 1)
	u, err := New(WithUDP("127.0.0.1:0"), WithInviteHandler(func(c *Call) ([]byte, error) {
		ans, m, err := sdp.Answer(c.Offer, sdp.Config{Address: net.IPv4(127, 0, 0, 1), Audio: audio,
			Ports: func(kind string, i int) (int, int) { return sessions[kind].LocalPorts() }})
		if err != nil {
			return nil, &StatusError{Code: 488, Reason: "Not Acceptable Here"}
		}
		for _, x := range m {
			if s := sessions[x.Kind]; x.Accepted && s != nil {
				if err := s.AddTrack(x.TrackConfig()); err != nil {
					return nil, err
				}
				s.SetRemote(x.RemoteRTP, x.RemoteRTCP)
				s.Start()
			}
		}
		mu.Lock()
		negotiated = m
		mu.Unlock()
		calls <- c
		return ans, nil
	}))
	require.NoError(t, err)
	t.Cleanup(func() { u.Close() })
	return u, calls, func() []sdp.Media { mu.Lock(); defer mu.Unlock(); return negotiated }, fc
}

// baresip calls our UA with PCMU audio and H.264 video in packetization mode 0; the media
// reaches media.Session and rebuilds into frames that ffprobe decodes.
func TestInteropBaresipCall(t *testing.T) {
	baresip := peer.Require(t, "baresip", "baresip-core")
	peer.RequireFile(t, "/usr/lib/baresip/modules/avcodec.so", "baresip-ffmpeg")
	u, calls, ms, fc := mediaStreamer(t, []sdp.Codec{{Name: "PCMU", ClockRate: 8000}})
	target := fmt.Sprintf("sip:streamer@%s", u.UDPAddr())
	p := peer.Start(t, baresip, "-f", peer.BaresipConfig(t, peer.BaresipOptions{}), "-v", "-n", "127.0.0.1", "-e", "/dial "+target, "-t", "60")
	t.Cleanup(func() { p.Kill() })
	var c *Call
	select {
	case c = <-calls:
	case <-time.After(30 * time.Second):
		t.Fatalf("baresip did not call:\n%s", p.Output())
	}
	require.Len(t, ms(), 2)
	require.Equal(t, "PCMU", ms()[0].Codec)
	require.Equal(t, "H264", ms()[1].Codec)
	require.Contains(t, ms()[1].FMTP, "packetization-mode=0")
	const wantVideo, wantAudio = 30, 100 // 2 s of 15 fps video, 2 s of 20 ms audio packets
	require.Eventually(t, func() bool { return fc.count(media.CodecH264) >= wantVideo && fc.count(media.CodecPCMU) >= wantAudio },
		30*time.Second, 50*time.Millisecond, "frames: %v\n%s", fc.frames, p.Output())
	require.NoError(t, c.Hangup(t.Context()))

	fc.mu.Lock()
	stream := append([]byte(nil), fc.annexB.Bytes()...)
	keys := fc.keys
	fc.mu.Unlock()
	require.Positive(t, keys)
	file := filepath.Join(t.TempDir(), "video.h264")
	require.NoError(t, os.WriteFile(file, stream, 0o644))
	probe, err := peer.FFprobe(t, time.Minute, file, "-f", "h264")
	require.NoError(t, err)
	v := probe.Stream("video")
	require.NotNil(t, v, "ffprobe found no video in what we rebuilt")
	require.Equal(t, 320, v.Width)
	require.Equal(t, 240, v.Height)
	require.GreaterOrEqual(t, v.Frames(), wantVideo, "frames ffprobe decodes from the rebuilt stream")
}

// baresip calls our TLS-only UA (sip_cafile trusts the test CA); the call is established
// over TLS (our Contact says transport=tls, so its ACK comes back over TLS) and our BYE
// reaches baresip over TLS, verified against the same CA.
func TestInteropBaresipTLS(t *testing.T) {
	baresip := peer.Require(t, "baresip", "baresip-core")
	peer.RequireFile(t, "/usr/lib/baresip/modules/avcodec.so", "baresip-ffmpeg")
	ca := peer.NewCA(t)
	calls := make(chan *Call, 1)
	u, err := New(WithTLS(TLSConfig{Addr: "127.0.0.1:0", CertFile: ca.CertFile, KeyFile: ca.KeyFile, TrustFile: ca.CAFile}),
		WithInviteHandler(func(c *Call) ([]byte, error) {
			ans, _, err := sdp.Answer(c.Offer, sdp.Config{Address: net.IPv4(127, 0, 0, 1),
				Ports: func(kind string, i int) (int, int) { return 30000 + 2*i, 30001 + 2*i }})
			calls <- c
			return ans, err
		}))
	require.NoError(t, err)
	t.Cleanup(func() { u.Close() })
	dir := peer.BaresipConfig(t, peer.BaresipOptions{CA: ca})
	target := fmt.Sprintf("sip:streamer@%s;transport=tls", u.TLSAddr())
	p := peer.Start(t, baresip, "-n", "127.0.0.1", "-f", dir, "-e", "/dial "+target, "-t", "60")
	var c *Call
	select {
	case c = <-calls:
	case <-time.After(30 * time.Second):
		t.Fatalf("baresip did not call over TLS:\n%s", p.Output())
	}
	select {
	case <-c.Confirmed():
	case <-c.Done():
		t.Fatalf("the call ended: %s\n%s", c.EndReason(), p.Output())
	}
	require.NoError(t, c.Hangup(t.Context()))
	require.Equal(t, "local hangup (BYE)", c.EndReason())
}
