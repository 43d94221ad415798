package conference_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/rtpsend"
	"github.com/sipcast/sipcast/sip"
)

// lossyProxy stands between a caller's stream and the Bridge: the caller sends to it,
// it forwards to the Bridge's RTP and RTCP ports, dropping a seeded share of the RTP,
// and it sends the Bridge's RTCP (receiver reports, PLI) back to the caller.
type lossyProxy struct {
	conn            *net.UDPConn
	caller          *net.UDPAddr
	rtpDst, rtcpDst *net.UDPAddr
	loss            int // per cent of the caller's RTP dropped
	rng             *rand.Rand
	mu              sync.Mutex
	dropped         int
	done            chan struct{}
}

func newLossyProxy(t *testing.T, st *rtpsend.Stream, loss int, seed uint64) *lossyProxy {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	p := &lossyProxy{conn: conn, caller: st.Conn.LocalAddr().(*net.UDPAddr), rtpDst: st.RTP, rtcpDst: st.RTCP, loss: loss,
		rng: rand.New(rand.NewPCG(seed, 1)), done: make(chan struct{})}
	st.RTP, st.RTCP = conn.LocalAddr().(*net.UDPAddr), conn.LocalAddr().(*net.UDPAddr)
	go p.run()
	t.Cleanup(func() { conn.Close(); <-p.done })
	return p
}

func (p *lossyProxy) run() {
	defer close(p.done)
	buf := make([]byte, 2048)
	for {
		n, from, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		b := buf[:n]
		rtcp := n > 1 && b[1] >= 192 && b[1] <= 223
		switch {
		case !from.IP.Equal(p.caller.IP) || from.Port != p.caller.Port:
			_, _ = p.conn.WriteToUDP(b, p.caller) // the Bridge's RTCP, back to the caller
		case rtcp:
			_, _ = p.conn.WriteToUDP(b, p.rtcpDst)
		default:
			p.mu.Lock()
			drop := p.rng.IntN(100) < p.loss
			if drop {
				p.dropped++
			}
			p.mu.Unlock()
			if !drop {
				_, _ = p.conn.WriteToUDP(b, p.rtpDst)
			}
		}
	}
}

// withRTCPFeedback offers PLI and NACK on the video (a=rtcp-fb), as a Call Bridge does,
// and rtcp-mux, so that the Bridge's RTCP goes back the way the RTP came (the proxy).
func withRTCPFeedback(offer string) string {
	return strings.Replace(offer, "a=rtpmap:96 H264/90000\r\n", "a=rtpmap:96 H264/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\na=rtcp-mux\r\n", 1)
}

// The video crosses a network that loses 3 % of its packets, and the caller answers
// keyframe requests (PLI) as a Call Bridge does. With the picture frozen after each
// loss (LossFreeze), every loss is answered by a keyframe within a round or two, the
// frames in between are dropped, never forwarded damaged, and the stream goes on. The
// longest freeze and the requests' answer latency are logged (measured, not asserted).
func TestLossAnsweredByKeyframesGoOnly(t *testing.T) {
	peer.CheckNoLeaks(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	var mu sync.Mutex
	var dts []time.Duration
	concealed := 0
	out := func(conference.CallInfo, []media.Track) (media.FrameWriter, error) {
		return media.FrameWriterFunc(func(f *media.Frame) error {
			if f.Codec.IsVideo() {
				mu.Lock()
				dts = append(dts, f.DTS)
				if f.Concealed {
					concealed++
				}
				mu.Unlock()
			}
			return nil
		}), nil
	}
	b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, Outputs: []conference.OutputFunc{out},
		Media: []media.SessionOption{media.WithLossPolicy(media.LossFreeze)}})
	require.NoError(t, err)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	call, _, sender := dialBridgeWith(ctx, t, b, clip, dialOpts{video: true, audio: true, edit: withRTCPFeedback})
	proxy := newLossyProxy(t, sender.Video, 3, 7)
	answerCtx, stopAnswering := context.WithCancel(ctx)
	answered := make(chan error, 1)
	go func() { answered <- sender.AnswerKeyframes(answerCtx) }()
	require.NoError(t, sender.Play(ctx, clip.Interleaved(), clip.Duration, 12*time.Second, nil))
	info := b.Calls()[0]
	require.NoError(t, call.Hangup(ctx))
	stopAnswering()
	require.True(t, errors.Is(<-answered, context.Canceled))

	mu.Lock()
	defer mu.Unlock()
	var longest time.Duration
	for i := 1; i < len(dts); i++ {
		longest = max(longest, dts[i]-dts[i-1])
	}
	v := info.Media["video"]
	proxy.mu.Lock()
	dropped := proxy.dropped
	proxy.mu.Unlock()
	t.Logf("%d video packets dropped; %d frames out of 300; longest freeze %v; %d keyframe requests, %d answered (%d keyframes sent), last latency %v, longest %v",
		dropped, len(dts), longest, v.KeyframeRequests, v.KeyframesAnswered, sender.KeyframesSent.Load(), v.KeyframeLatency, v.KeyframeLatencyMax)
	require.Positive(t, dropped)
	require.Positive(t, sender.KeyframesSent.Load(), "the caller answered requests")
	require.Positive(t, v.KeyframesAnswered)
	require.Zero(t, concealed, "frozen, not concealed")
	require.Positive(t, v.Frozen)
}
