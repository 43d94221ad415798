package rtmp

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media"
)

func loadClip(t testing.TB) *testmedia.Clip {
	t.Helper()
	c, err := testmedia.AV720p()
	require.NoError(t, err)
	return c
}

func clipOptions(c *testmedia.Clip) []PublisherOption {
	return []PublisherOption{
		WithVideo(VideoTrack{Codec: media.CodecH264, SPS: c.SPS, PPS: c.PPS}),
		WithAudio(AudioTrack{Codec: media.CodecAAC, Config: c.AudioConfig}),
	}
}

// feed writes the clip loops times, shifting timestamps by the clip duration each loop.
// With realtime it paces frames on their DTS; it stops early when stop is closed.
func feed(t testing.TB, p *Publisher, c *testmedia.Clip, loops int, realtime bool, stop <-chan struct{}) {
	start := time.Now()
	for l := 0; l < loops; l++ {
		off := time.Duration(l) * c.Duration
		for i := range c.Frames {
			f := c.Frames[i]
			f.DTS += off
			f.PTS += off
			if realtime {
				if d := time.Until(start.Add(f.DTS)); d > 0 {
					select {
					case <-time.After(d): // pacing the source, not synchronisation
					case <-stop:
						return
					}
				}
			}
			p.WriteFrame(&f)
		}
	}
}

// stateLog records publisher events for assertions.
type stateLog struct {
	mu     sync.Mutex
	events []Event
	times  []time.Time
	ch     chan Event
}

func newStateLog() *stateLog { return &stateLog{ch: make(chan Event, 1024)} }

func (s *stateLog) add(e Event) {
	s.mu.Lock()
	s.events = append(s.events, e)
	s.times = append(s.times, time.Now())
	s.mu.Unlock()
	select {
	case s.ch <- e:
	default:
	}
}

// waitState waits for an event with the given state.
func (s *stateLog) waitState(t testing.TB, st State, timeout time.Duration) Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e := <-s.ch:
			if e.State == st {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s event within %v", st, timeout)
		}
	}
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// serverEvents collects StreamEvents on a channel.
func serverEvents() (chan StreamEvent, ServerOption) {
	ch := make(chan StreamEvent, 64)
	return ch, WithStreamEvents(func(e StreamEvent) {
		select {
		case ch <- e:
		default:
		}
	})
}

func waitEvent(t testing.TB, ch chan StreamEvent, publish, start bool, timeout time.Duration) StreamEvent {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e := <-ch:
			if e.Publish == publish && e.Start == start {
				return e
			}
		case <-deadline:
			t.Fatalf("no stream event publish=%v start=%v within %v", publish, start, timeout)
		}
	}
}
