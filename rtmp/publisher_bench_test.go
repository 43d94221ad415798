package rtmp

import (
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/rtmp/chunk"
	"github.com/sipcast/sipcast/rtmp/handshake"
	"github.com/sipcast/sipcast/rtmp/message"
)

// startSink runs a minimal RTMP server that accepts one publish and then reads and
// discards, allocating nothing in steady state, so allocation counts measure the
// publisher alone.
func startSink(t testing.TB) string { return startSinkWith(t, sinkOptions{}) }

type sinkOptions struct {
	// stall stops reading after publish, as a server whose network is stuck.
	stall bool
	// names receives the name sent in publish.
	names chan string
}

func startSinkWith(t testing.TB, o sinkOptions) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	finished := make(chan struct{})
	t.Cleanup(func() { ln.Close(); close(done); <-finished })
	go func() {
		defer close(finished)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		go func() { <-done; nc.Close() }()
		if handshake.Server(nc, 0) != nil {
			return
		}
		c := newConn(nc)
		var m chunk.Message
		for {
			if c.read(&m) != nil {
				return
			}
			if m.Type != message.TypeCommandAMF0 {
				continue
			}
			cmd, err := parseCommand(&m)
			if err != nil {
				return
			}
			switch cmd.Name {
			case "connect":
				_ = c.writeAMF(3, message.TypeCommandAMF0, 0, "_result", cmd.TxID, nil, status("status", "NetConnection.Connect.Success", ""))
			case "createStream":
				_ = c.writeAMF(3, message.TypeCommandAMF0, 0, "_result", cmd.TxID, nil, 1.0)
			case "publish":
				if o.names != nil {
					name, _ := firstString(cmd.Args)
					o.names <- name
				}
				_ = c.writeAMF(5, message.TypeCommandAMF0, 1, "onStatus", 0.0, nil, status("status", "NetStream.Publish.Start", ""))
				if o.stall {
					<-done
					return
				}
			}
		}
	}()
	return ln.Addr().String()
}

// setupSteadyState returns a publishing Publisher and a 720p inter frame from the clip.
func setupSteadyState(t testing.TB) (*Publisher, media.Frame) {
	clip := loadClip(t)
	addr := startSink(t)
	p, err := NewPublisher("rtmp://"+addr+"/live/bench", clipOptions(clip)...)
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	require.NoError(t, p.Ready(ctxT(t, 10*time.Second)))
	var key, inter media.Frame
	for _, f := range clip.Frames {
		if f.Codec != media.CodecH264 {
			continue
		}
		if f.Keyframe && key.Data == nil {
			key = f
		} else if !f.Keyframe && len(f.Data) > len(inter.Data) {
			inter = f // the largest inter frame: a 720p access unit of ~5 KB at 700 kbit/s
		}
	}
	require.True(t, p.WriteFrame(&key))
	waitSent(p, 1)
	return p, inter
}

func waitSent(p *Publisher, n uint64) {
	for p.videoFrames.Load() < n {
		runtime.Gosched()
	}
}

func TestPublisherSteadyStateDoesNotAllocate(t *testing.T) {
	p, f := setupSteadyState(t)
	sent := uint64(1)
	step := func() {
		f.DTS += 40 * time.Millisecond
		f.PTS += 40 * time.Millisecond
		if !p.WriteFrame(&f) {
			panic("frame dropped")
		}
		sent++
		waitSent(p, sent)
	}
	for i := 0; i < 50; i++ { // let buffers reach their size
		step()
	}
	allocs := testing.AllocsPerRun(500, step)
	require.Zero(t, allocs, "allocations per 720p frame through WriteFrame, queue, FLV and chunking to the socket")
}

func BenchmarkPublisherWriteFrame720p(b *testing.B) {
	p, f := setupSteadyState(b)
	sent := uint64(1)
	b.SetBytes(int64(len(f.Data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.DTS += 40 * time.Millisecond
		f.PTS = f.DTS
		p.WriteFrame(&f)
		sent++
		waitSent(p, sent)
	}
}

// BenchmarkPublisherWriteFrameQueueOnly measures the caller's cost alone: WriteFrame copies
// into the queue and returns; the frame is not waited for.
func BenchmarkPublisherWriteFrameQueueOnly(b *testing.B) {
	clip := loadClip(b)
	q := newFrameQueue(512, 16<<20, 4<<20)
	var f media.Frame
	for _, fr := range clip.Frames {
		if fr.Keyframe {
			f = fr
			break
		}
	}
	var out slot
	b.SetBytes(int64(len(f.Data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		q.push(&f)
		q.pop(&out)
	}
}
