package conference

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/testclip"
	"github.com/sipcast/sipcast/sip"
)

// A call's frame path allocates nothing in steady state: the media path's copy into the
// inbox, the owner's batch through the stages (Monotonic, Gate, Align with silence) and
// the fan-out to an application output.
func TestCallFramePathDoesNotAllocate(t *testing.T) {
	clip, err := testclip.AV720p()
	require.NoError(t, err)
	b, err := New(Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, PollInterval: -1,
		Outputs: []OutputFunc{func(CallInfo, []media.Track) (media.FrameWriter, error) { return media.NoOpFrameWriter{}, nil }}})
	require.NoError(t, err)
	defer b.Close()
	c, err := newLeg(b, nil, quietSig{}, "alloc", "sip:a@b")
	require.NoError(t, err)
	defer c.stop()
	c.hasVideo, c.hasAudio = true, true
	c.sdpVideo = &media.Track{Codec: media.CodecH264, ClockRate: 90000, SPS: clip.SPS, PPS: clip.PPS}
	c.sdpAudio = &media.Track{Codec: media.CodecAAC, ClockRate: 48000, Channels: 2, Config: clip.AudioConfig}
	frames := clip.Interleaved()
	var loop time.Duration
	pass := func() {
		for i := range frames {
			f := frames[i]
			f.DTS += loop
			f.PTS += loop
			c.onFrame(&f)
			if i%8 == 7 { // a poller round's worth
				c.serve(true, false)
			}
		}
		c.serve(true, false)
		loop += clip.Duration
	}
	pass()
	pass() // buffers have grown to the stream's size
	require.True(t, c.o.started)
	require.Zero(t, testing.AllocsPerRun(5, pass), "allocations per pass over %d frames", len(frames))
}

// quietSig is a dialog that never ends (the test drives the call's frame path alone).
type quietSig struct{}

func (quietSig) CallID() string                                      { return "alloc" }
func (quietSig) State() sip.DialogState                              { return sip.DialogEstablished }
func (quietSig) Done() <-chan struct{}                               { return nil }
func (quietSig) Err() error                                          { return nil }
func (quietSig) Hangup(context.Context) error                        { return nil }
func (quietSig) RequestKeyframe(context.Context) error               { return nil }
func (quietSig) SendDTMF(context.Context, byte, time.Duration) error { return nil }
func (quietSig) ContactParam(string) (string, bool)                  { return "", false }

// The inbox is bounded: frames that arrive off the owner's goroutine while the owner is
// held up wait up to maxInbox, and the rest are dropped and counted, not queued without
// end.
func TestCallInboxIsBounded(t *testing.T) {
	b, err := New(Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}})
	require.NoError(t, err)
	defer b.Close()
	c, err := newLeg(b, nil, quietSig{}, "bounded", "sip:a@b")
	require.NoError(t, err)
	defer c.stop()
	f := &media.Frame{Codec: media.CodecAAC, Data: make([]byte, 100)}
	for i := 0; i < maxInbox+500; i++ {
		c.onFrame(f)
	}
	c.inMu.Lock()
	defer c.inMu.Unlock()
	require.Len(t, c.inbox, maxInbox)
	require.Equal(t, uint64(500), c.inDropped)
}
