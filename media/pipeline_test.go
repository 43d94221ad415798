package media_test

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/h264"
)

// clipPackets packetizes the clip's video with pion's payloader (mode 1, 1200 bytes).
func clipPackets(t testing.TB) [][]byte {
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	var pay codecs.H264Payloader
	var out [][]byte
	seq := uint16(0)
	for _, f := range clip.Frames {
		if f.Codec != media.CodecH264 {
			continue
		}
		var annexB []byte
		for rest := f.Data; len(rest) > 0; {
			nalu, r, err := h264.NextAVCC(rest)
			require.NoError(t, err)
			annexB = append(append(annexB, 0, 0, 0, 1), nalu...)
			rest = r
		}
		payloads := pay.Payload(1200, annexB)
		for i, p := range payloads {
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq,
				Timestamp: uint32(f.PTS * 90000 / time.Second), Marker: i == len(payloads)-1, SSRC: 1}, Payload: p}
			b, err := pkt.Marshal()
			require.NoError(t, err)
			out = append(out, b)
			seq++
		}
	}
	return out
}

// pipeline is the real receive pipeline of one video track (media.Receiver: jitter
// buffer, depacketizer, Clock, B-frame reorderer), driven by hand: the clip's packets
// arrive 1 ms apart.
type pipeline struct {
	r      *media.Receiver
	now    time.Time
	frames int
	loop   int
	span   uint32
}

func newPipeline(t testing.TB, pkts [][]byte) *pipeline {
	p := &pipeline{now: time.Unix(1_000_000, 0), span: clipSpan(pkts)}
	r, err := media.NewReceiver(func([]byte) error { return nil }, media.WithFrames(func(*media.Frame) { p.frames++ }))
	require.NoError(t, err)
	require.NoError(t, r.AddTrack(media.TrackConfig{PayloadType: 96, Encoding: media.EncodingH264, ClockRate: 90000}))
	p.r = r
	return p
}

func (p *pipeline) push(raw []byte) {
	p.now = p.now.Add(time.Millisecond)
	p.r.Push(raw, p.now)
	p.r.Advance(p.now)
}

// pass sends the clip once more, its sequence numbers and timestamps carried on.
func (p *pipeline) pass(pkts [][]byte) {
	rebaseLoop(pkts, p.loop, p.span)
	p.loop++
	for _, b := range pkts {
		p.push(b)
	}
}

func TestPacketToFrameDoesNotAllocate(t *testing.T) {
	pkts := clipPackets(t)
	p := newPipeline(t, pkts)
	p.pass(pkts)
	p.pass(pkts) // buffers grow to the largest frame
	got := p.frames
	require.Greater(t, got, 150, "frames out of two passes (the last ones held for reordering)")
	allocs := testing.AllocsPerRun(3, func() { p.pass(pkts) })
	require.Zero(t, allocs, "allocations per pass over %d packets", len(pkts))
	require.Equal(t, got+100*4, p.frames, "every pass yields the clip's 100 frames")
}

func BenchmarkPacketToFrameH264(b *testing.B) {
	pkts := clipPackets(b)
	p := newPipeline(b, pkts)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		if i%len(pkts) == 0 {
			b.StopTimer()
			rebaseLoop(pkts, i/len(pkts), p.span)
			b.StartTimer()
		}
		p.push(pkts[i%len(pkts)])
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "packets/s")
}
