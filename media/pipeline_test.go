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
	"github.com/sipcast/sipcast/media/jitter"
	"github.com/sipcast/sipcast/media/rtph264"
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

// pipeline is the receive path of one video track: jitter buffer, then depacketizer.
type pipeline struct {
	buf    jitter.Buffer
	dec    rtph264.Decoder
	frames int
}

func newPipeline(t testing.TB) *pipeline {
	p := &pipeline{buf: jitter.Buffer{ClockRate: 90000}}
	require.NoError(t, p.buf.Init())
	return p
}

func (p *pipeline) push(raw []byte, now time.Time) {
	_ = p.buf.Push(raw, now)
	for {
		pkt, lost, ok := p.buf.Pop(now)
		if !ok {
			return
		}
		if lost > 0 {
			p.dec.Lost()
		}
		if _, err := p.dec.Decode(pkt); err == nil {
			p.frames++
		}
	}
}

// rebase rewrites sequence numbers so that the clip can loop without looking like
// duplicates.
func rebase(pkts [][]byte, loop int) {
	n := uint16(len(pkts))
	for i, b := range pkts {
		s := uint16(loop)*n + uint16(i)
		b[2], b[3] = byte(s>>8), byte(s)
	}
}

func TestPacketToFrameDoesNotAllocate(t *testing.T) {
	pkts := clipPackets(t)
	p := newPipeline(t)
	now := time.Unix(0, 0)
	loop := 0
	run := func() {
		rebase(pkts, loop)
		loop++
		for _, b := range pkts {
			p.push(b, now)
		}
	}
	run() // buffers grow to the largest frame
	require.Equal(t, 100, p.frames)
	allocs := testing.AllocsPerRun(3, run)
	require.Zero(t, allocs, "allocations per pass over %d packets", len(pkts))
	require.Equal(t, 100*5, p.frames, "every pass yields the clip's 100 frames")
}

func BenchmarkPacketToFrameH264(b *testing.B) {
	pkts := clipPackets(b)
	p := newPipeline(b)
	now := time.Unix(0, 0)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		if i%len(pkts) == 0 {
			b.StopTimer()
			rebase(pkts, i/len(pkts))
			b.StartTimer()
		}
		p.push(pkts[i%len(pkts)], now)
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "packets/s")
}
