package conference_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media/rtpsend"
	"github.com/sipcast/sipcast/rtmp"
	"github.com/sipcast/sipcast/sip"
)

// loopClip sends the clip over and over until the returned stop is called (it waits
// for the sender to stop; calling it again does nothing).
func loopClip(ctx context.Context, sender *rtpsend.Sender, clip *testmedia.Clip) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sender.Play(ctx, clip.Interleaved(), clip.Duration, time.Minute, nil)
	}()
	return func() { cancel(); <-done }
}

// eventLog collects a Bridge's events for a test and lets it wait for one.
type eventLog struct {
	mu     sync.Mutex
	events []conference.Event
	wake   chan struct{}
	// on, when set, runs inside Config.Events (the Bridge's delivery goroutine).
	on func(conference.Event)
}

func (l *eventLog) add(e conference.Event) {
	if l.on != nil {
		l.on(e)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
	if l.wake != nil {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

func (l *eventLog) has(t conference.EventType) bool { return l.count(t) > 0 }

func (l *eventLog) count(t conference.EventType) int {
	n := 0
	for _, e := range l.all() {
		if e.Type == t {
			n++
		}
	}
	return n
}

func (l *eventLog) all() []conference.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]conference.Event(nil), l.events...)
}

// wait returns the first event that match accepts, or fails the test when ctx ends.
func (l *eventLog) wait(ctx context.Context, t *testing.T, what string, match func(conference.Event) bool) conference.Event {
	t.Helper()
	l.mu.Lock()
	if l.wake == nil {
		l.wake = make(chan struct{}, 1)
	}
	wake := l.wake
	l.mu.Unlock()
	for {
		for _, e := range l.all() {
			if match(e) {
				return e
			}
		}
		select {
		case <-wake:
		case <-ctx.Done():
			t.Fatalf("no event: %s (events: %v)", what, l.all())
		}
	}
}

// streamingTo matches an event of typ about url (events carry it redacted).
func streamingTo(typ conference.EventType, url string) func(conference.Event) bool {
	return func(e conference.Event) bool { return e.Type == typ && e.URL == rtmp.Redact(url) }
}

// waitStreamed waits until the call's publisher for url has sent frames.
func waitStreamed(ctx context.Context, t *testing.T, b *conference.Bridge, url string, frames uint64) conference.CallInfo {
	t.Helper()
	var got conference.CallInfo
	require.Eventually(t, func() bool {
		c := b.Calls()
		if len(c) == 1 && c[0].URL == rtmp.Redact(url) && c[0].Publisher.VideoFrames >= frames {
			got = c[0]
			return true
		}
		return ctx.Err() != nil
	}, time.Minute, 10*time.Millisecond)
	require.NoError(t, ctx.Err(), "the call never streamed %d frames to %s: %+v", frames, rtmp.Redact(url), b.Calls())
	return got
}

// A Call Bridge moves a call's stream with an UPDATE whose Contact carries a new
// x-cisco-stream: the stream stops at the old URL and goes on at the new one, in the
// same call, with only Go peers.
func TestStreamURLMovesOnUpdateGoOnly(t *testing.T) {
	peer.CheckNoLeaks(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	url, _ := goRTMP(t)
	// Stream keys are redacted in events and CallInfo: the URLs differ in their app.
	base := strings.TrimSuffix(url(""), "live/")
	a, bb, def := base+"first/key", base+"second/key", base+"default/key"
	evs := &eventLog{}
	b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, StreamURL: def, Events: evs.add})
	require.NoError(t, err)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	call, _, sender := dialBridgeWith(ctx, t, b, clip, dialOpts{video: true, audio: true, contact: map[string]string{"x-cisco-stream": a}})
	stopPlay := loopClip(ctx, sender, clip)
	defer stopPlay()

	evs.wait(ctx, t, "streaming to a", streamingTo(conference.EventStreamingStarted, a))
	waitStreamed(ctx, t, b, a, 10)
	require.NoError(t, call.Update(ctx, map[string]string{"x-cisco-stream": bb}))
	stopped := evs.wait(ctx, t, "a stopped", streamingTo(conference.EventStreamingStopped, a))
	require.Equal(t, "the stream URL changed", stopped.Reason)
	evs.wait(ctx, t, "streaming to b", streamingTo(conference.EventStreamingStarted, bb))
	waitStreamed(ctx, t, b, bb, 30)

	stopPlay()
	require.NoError(t, call.Hangup(ctx))
	evs.wait(ctx, t, "call ended", func(e conference.Event) bool { return e.Type == conference.EventCallEnded })
	evs.wait(ctx, t, "b stopped", streamingTo(conference.EventStreamingStopped, bb))
	for _, e := range evs.all() {
		require.False(t, streamingTo(conference.EventStreamingStarted, def)(e), "the default URL is never used: %v", evs.all())
	}
}

// The RTMP server goes away in the middle of a call and comes back on the same address:
// the publisher retries and publishes again, the call is never dropped, and the frames
// flow to the new server.
func TestRTMPServerRestartGoOnly(t *testing.T) {
	peer.CheckNoLeaks(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	srv, err := rtmp.NewServer()
	require.NoError(t, err)
	addr, err := srv.Listen("127.0.0.1:0")
	require.NoError(t, err)
	evs := &eventLog{}
	stream := "rtmp://" + addr.String() + "/live/restarted"
	b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, StreamURL: stream,
		Events: evs.add, Publisher: []rtmp.PublisherOption{rtmp.WithBackoff(20*time.Millisecond, 100*time.Millisecond)}})
	require.NoError(t, err)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	call, _, sender := dialBridge(ctx, t, b, clip, true, true)
	stopPlay := loopClip(ctx, sender, clip)
	defer stopPlay()

	evs.wait(ctx, t, "streaming", streamingTo(conference.EventStreamingStarted, stream))
	before := waitStreamed(ctx, t, b, stream, 10)
	require.NoError(t, srv.Close())
	evs.wait(ctx, t, "retrying", streamingTo(conference.EventStreamingRetrying, stream))

	srv2, err := rtmp.NewServer()
	require.NoError(t, err)
	defer srv2.Close()
	_, err = srv2.Listen(addr.String()) // free again: the old listener is closed
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		c := b.Calls()
		return len(c) == 1 && c[0].Publisher.Reconnects >= 1 && c[0].Publisher.VideoFrames > before.Publisher.VideoFrames+30
	}, time.Minute, 10*time.Millisecond, "frames after the reconnection: %+v", b.Calls())
	stopPlay()
	require.Len(t, b.Calls(), 1, "the call was never dropped")
	require.NoError(t, call.Hangup(ctx))
	evs.wait(ctx, t, "call ended", func(e conference.Event) bool { return e.Type == conference.EventCallEnded })
}

// An Events handler that changes a call's outputs (SetStream, SetRecording), reads
// Calls and ends the call (EndCall), all from inside the callback: nothing deadlocks,
// every publisher started is stopped, and Close joins everything (strict leak check).
func TestEventsHandlerChangesOutputs(t *testing.T) {
	peer.CheckNoLeaks(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	url, _ := goRTMP(t)
	base := strings.TrimSuffix(url(""), "live/")
	first, moved := base+"first/key", base+"moved/key"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var b *conference.Bridge
	evs := &eventLog{}
	ready := make(chan struct{})
	moving := false                     // the handler's own state (it runs on one goroutine)
	evs.on = func(e conference.Event) { // on the Bridge's goroutine: assert, not require
		<-ready
		switch {
		case e.Type == conference.EventRecordingFinished && !moving:
			moving = true // the first recording, stopped by the test
			assert.Len(t, b.Calls(), 1)
			assert.NoError(t, b.SetStream(e.CallID, moved))
		case streamingTo(conference.EventStreamingStarted, moved)(e):
			assert.Len(t, b.Calls(), 1)
			assert.NoError(t, b.SetRecording(e.CallID, true))
		case e.Type == conference.EventRecordingStarted && len(b.Calls()) == 1 && b.Calls()[0].URL == rtmp.Redact(moved):
			assert.NoError(t, b.EndCall(ctx, e.CallID))
		}
	}
	b, err = conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, StreamURL: first,
		RecordDir: t.TempDir(), Events: evs.add})
	require.NoError(t, err)
	close(ready)
	_, _, sender := dialBridge(ctx, t, b, clip, true, true)
	stopPlay := loopClip(ctx, sender, clip)
	defer stopPlay()
	// The recording stops once it has frames; from there on the handler drives: the
	// stream moves, recording starts again, the call ends.
	require.Eventually(t, func() bool {
		c := b.Calls()
		return len(c) == 1 && c[0].Recorder.VideoFrames >= 30 || ctx.Err() != nil
	}, time.Minute, 10*time.Millisecond)
	require.NoError(t, b.SetRecording(b.Calls()[0].ID, false))
	evs.wait(ctx, t, "call ended", func(e conference.Event) bool { return e.Type == conference.EventCallEnded })
	stopPlay()
	require.NoError(t, b.Close())
	starts, stops := evs.count(conference.EventStreamingStarted), evs.count(conference.EventStreamingStopped)
	require.Equal(t, 2, starts, "%v", evs.all())
	require.Equal(t, starts, stops, "every publisher stopped: %v", evs.all())
	require.Equal(t, 2, evs.count(conference.EventRecordingStarted), "%v", evs.all())
	require.Equal(t, 2, evs.count(conference.EventRecordingFinished)+evs.count(conference.EventRecordingFailed), "every recording ended: %v", evs.all())
	require.Positive(t, evs.count(conference.EventRecordingFinished))
}

// Many goroutines move a call's stream at once: the moves are served one at a time by
// the call's goroutine, so at the end exactly one publisher runs, at the last URL asked
// for, and every other one was stopped.
func TestConcurrentSetStream(t *testing.T) {
	peer.CheckNoLeaks(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	url, _ := goRTMP(t)
	base := strings.TrimSuffix(url(""), "live/")
	evs := &eventLog{}
	b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, StreamURL: base + "start/key", Events: evs.add})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	call, _, sender := dialBridge(ctx, t, b, clip, true, true)
	stopPlay := loopClip(ctx, sender, clip)
	defer stopPlay()
	evs.wait(ctx, t, "streaming", func(e conference.Event) bool { return e.Type == conference.EventStreamingStarted })
	id := b.Calls()[0].ID
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				require.NoError(t, b.SetStream(id, base+[]string{"a", "b", "c"}[(i+j)%3]+"/key"))
			}
		}()
	}
	wg.Wait()
	last := base + "last/key"
	require.NoError(t, b.SetStream(id, last))
	waitStreamed(ctx, t, b, last, 10)
	stopPlay()
	require.NoError(t, call.Hangup(ctx))
	require.NoError(t, b.Close())
	starts, stops := evs.count(conference.EventStreamingStarted), evs.count(conference.EventStreamingStopped)
	require.Positive(t, starts)
	require.GreaterOrEqual(t, stops, starts, "no publisher left running")
}
