package conference_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/rtmp"
	"github.com/sipcast/sipcast/sip"
)

// goRTMP is an in-process RTMP server (the core's tests need only Go).
func goRTMP(t *testing.T) (url func(stream string) string, events chan rtmp.StreamEvent) {
	events = make(chan rtmp.StreamEvent, 256)
	srv, err := rtmp.NewServer(rtmp.WithStreamEvents(func(e rtmp.StreamEvent) {
		select {
		case events <- e:
		default:
		}
	}))
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	addr, err := srv.Listen("127.0.0.1:0")
	require.NoError(t, err)
	return func(stream string) string { return "rtmp://" + addr.String() + "/live/" + stream }, events
}

// An Events handler that calls back into the Bridge (Calls, for a status page) while a
// call streams and records: events are delivered with no lock held, so nothing deadlocks
// (they were emitted under the call's lock, and Calls takes it).
func TestEventsHandlerMayCallTheBridge(t *testing.T) {
	peer.CheckNoLeaks(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	url, _ := goRTMP(t)
	var bp atomic.Pointer[conference.Bridge]
	ended := make(chan struct{})
	var seen atomic.Int32
	b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")},
		StreamURL: url("events"), RecordDir: t.TempDir(),
		Events: func(e conference.Event) {
			if b := bp.Load(); b != nil {
				_ = b.Calls()
			}
			seen.Add(1)
			if e.Type == conference.EventCallEnded {
				close(ended)
			}
		}})
	require.NoError(t, err)
	bp.Store(b)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	call, _, sender := dialBridge(ctx, t, b, clip, true, true)
	require.NoError(t, sender.Play(ctx, clip.Interleaved(), 0, 0, nil))
	require.NoError(t, call.Hangup(ctx))
	select {
	case <-ended:
	case <-ctx.Done():
		t.Fatalf("no call-ended event: the Bridge is stuck (%d events delivered)", seen.Load())
	}
	require.GreaterOrEqual(t, seen.Load(), int32(4), "call, streaming and recording events")
}

// Stream URLs arriving in quick succession in RTCP APP packets (each one moves a
// running stream) restart the stream one at a time: no publisher is orphaned, and the
// Bridge closes, joining everything.
func TestConcurrentStreamRestarts(t *testing.T) {
	peer.CheckNoLeaks(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	url, events := goRTMP(t)
	b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, StreamURL: url("default")})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	call, conn, sender := dialBridge(ctx, t, b, clip, true, true)
	require.NoError(t, sender.Play(ctx, clip.Interleaved()[:len(clip.Interleaved())/2], 0, 0, nil))
	started := false
	for !started {
		select {
		case e := <-events:
			started = e.Publish && e.Start
		case <-ctx.Done():
			t.Fatal("the call never streamed")
		}
	}
	for i := 0; i < 40; i++ {
		data := []byte(url([]string{"a", "b"}[i%2]) + "\x00")
		for len(data)%4 != 0 {
			data = append(data, 0)
		}
		app, err := (&rtcp.ApplicationDefined{SubType: 1, SSRC: 7, Name: "CISC", Data: data}).Marshal()
		require.NoError(t, err)
		_, err = conn.WriteToUDP(app, sender.Video.RTCP)
		require.NoError(t, err)
	}
	require.NoError(t, sender.Play(ctx, clip.Interleaved()[len(clip.Interleaved())/2:], 0, 0, nil))
	require.NoError(t, call.Hangup(ctx))
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-ctx.Done():
		t.Fatal("Close hangs: a publisher was orphaned by overlapping restarts")
	}
}

// An application output that fails stops getting frames (EventOutputFailed, once) while
// the call and its other outputs go on; a second output sees every frame, and both are
// asked with the call's tracks.
func TestOutputFailureIsolated(t *testing.T) {
	peer.CheckNoLeaks(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	var failing, healthy atomic.Int32
	var ev eventLog
	b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, Events: ev.add,
		Outputs: []conference.OutputFunc{
			func(_ conference.CallInfo, tracks []media.Track) (media.FrameWriter, error) {
				return media.FrameWriterFunc(func(*media.Frame) error {
					if failing.Add(1) == 10 {
						return errors.New("disk full")
					}
					return nil
				}), nil
			},
			func(_ conference.CallInfo, tracks []media.Track) (media.FrameWriter, error) {
				if len(tracks) != 2 || tracks[0].Codec != media.CodecH264 || tracks[1].Codec != media.CodecAAC || tracks[1].ClockRate != 48000 {
					return nil, fmt.Errorf("tracks %+v", tracks)
				}
				return media.FrameWriterFunc(func(f *media.Frame) error { healthy.Add(1); return nil }), nil
			},
		}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	call, _, sender := dialBridge(ctx, t, b, clip, true, true)
	require.NoError(t, sender.Play(ctx, clip.Interleaved(), 0, 0, nil))
	require.Eventually(t, func() bool { return healthy.Load() >= int32(clip.VideoFrames+clip.AudioFrames-10) }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, call.Hangup(ctx))
	require.NoError(t, b.Close())
	require.EqualValues(t, 10, failing.Load(), "the failed output got frames after its error")
	require.Equal(t, 1, ev.count(conference.EventOutputFailed))
	require.Zero(t, ev.count(conference.EventStreamingStopped)+ev.count(conference.EventRecordingFailed))
}

// An Events handler that ends the call from inside the callback (EndCall on the first
// streaming event) does not deadlock: the call ends, its outputs are finalized, and
// Close joins everything.
func TestEventsHandlerMayEndTheCall(t *testing.T) {
	peer.CheckNoLeaks(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	url, _ := goRTMP(t)
	var bp atomic.Pointer[conference.Bridge]
	ended := make(chan string, 1)
	b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")},
		StreamURL: url("ends"), RecordDir: t.TempDir(),
		Events: func(e conference.Event) {
			switch e.Type {
			case conference.EventStreamingStarted:
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = bp.Load().EndCall(ctx, e.CallID)
			case conference.EventCallEnded:
				ended <- e.Reason
			}
		}})
	require.NoError(t, err)
	bp.Store(b)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	call, _, sender := dialBridge(ctx, t, b, clip, true, true)
	played := make(chan struct{})
	go func() { defer close(played); _ = sender.Play(ctx, clip.Interleaved(), 0, 0, nil) }()
	select {
	case reason := <-ended:
		require.NotEmpty(t, reason)
	case <-ctx.Done():
		t.Fatal("the call did not end: EndCall from the Events handler is stuck")
	}
	select {
	case <-call.Done():
	case <-ctx.Done():
		t.Fatal("the caller got no BYE")
	}
	cancel()
	<-played
	require.NoError(t, b.Close())
}
