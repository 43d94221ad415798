package rtmp

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"

	"github.com/sipcast/sipcast/media"
)

// A server that stops reading must not block WriteFrame or Stats; the queue drops video
// before audio and counts it.
func TestPublisherNeverBlocksOnStalledServer(t *testing.T) {
	peer.CheckNoLeaks(t)
	clip := loadClip(t)
	addr := startSinkWith(t, sinkOptions{stall: true})
	p, err := NewPublisher("rtmp://"+addr+"/live/stall", append(clipOptions(clip), WithQueue(64, 1<<20, 1<<20))...)
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.Ready(ctxT(t, 10*time.Second)))
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		feed(t, p, clip, 60, false, nil) // ~25 MB, far beyond socket buffers and the queue
		_ = p.Stats()
	}()
	select {
	case <-returned:
	case <-time.After(time.Minute):
		t.Fatal("WriteFrame blocked on a stalled server")
	}
	st := p.Stats()
	require.Positive(t, st.DroppedVideo)
	videoRate := float64(st.DroppedVideo) / float64(60*clip.VideoFrames)
	audioRate := float64(st.DroppedAudio) / float64(60*clip.AudioFrames)
	require.Greater(t, videoRate, audioRate, "video is dropped before audio")
	require.LessOrEqual(t, st.QueuedBytes, 1<<20)
}

func TestPublisherCredentialsInQuery(t *testing.T) {
	clip := loadClip(t)
	names := make(chan string, 1)
	addr := startSinkWith(t, sinkOptions{names: names})
	p, err := NewPublisher(fmt.Sprintf("rtmp://bob:p%%26w@%s/live/s?x=1", addr), append(clipOptions(clip), WithCredentialsInQuery())...)
	require.NoError(t, err)
	defer p.Close()
	require.Equal(t, "s?x=1&user=bob&pass=p%26w", <-names)
}

func TestPublisherRequestsKeyframes(t *testing.T) {
	clip := loadClip(t)
	addr := startSink(t)
	var requests atomic.Int32
	p, err := NewPublisher("rtmp://"+addr+"/live/k", append(clipOptions(clip), WithKeyframeRequest(func() { requests.Add(1) }))...)
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.Ready(ctxT(t, 10*time.Second)))
	// Publishing started with no keyframe queued: the source was asked for one.
	require.Eventually(t, func() bool { return requests.Load() >= 1 }, 5*time.Second, 10*time.Millisecond)
	before := requests.Load()
	// An inter frame bigger than the queue's frame limit is dropped, and video must restart.
	big := media.Frame{Codec: media.CodecH264, Data: make([]byte, 5<<20)}
	require.False(t, p.WriteFrame(&big))
	require.Greater(t, requests.Load(), before)
}

func TestNewPublisherValidation(t *testing.T) {
	clip := loadClip(t)
	for name, c := range map[string]struct {
		url  string
		opts []PublisherOption
		want string
	}{
		"no stream":  {"rtmp://h/test", clipOptions(clip), `no stream name in rtmp://h/test (application "test")`},
		"no track":   {"rtmp://h/a/s", nil, "needs a video or an audio track"},
		"bad aac":    {"rtmp://h/a/s", []PublisherOption{WithAudio(AudioTrack{Codec: media.CodecAAC})}, "AudioSpecificConfig"},
		"g722":       {"rtmp://h/a/s", []PublisherOption{WithAudio(AudioTrack{Codec: media.CodecG722})}, "cannot be sent over RTMP"},
		"hevc conf":  {"rtmp://h/a/s", []PublisherOption{WithVideo(VideoTrack{Codec: media.CodecH265})}, "configuration record"},
		"bad scheme": {"http://h/a/s", clipOptions(clip), "scheme"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewPublisher(c.url, c.opts...)
			require.ErrorContains(t, err, c.want)
		})
	}
}

func TestPublisherDialErrors(t *testing.T) {
	clip := loadClip(t)
	// The resolver answer is injected: CI machines may have no DNS server at all.
	noSuchHost := WithDialer(func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: "no-such-host.invalid", IsNotFound: true}}
	})
	for name, c := range map[string]struct {
		url      string
		opts     []PublisherOption
		sentinel error
		text     string
	}{
		"refused": {fmt.Sprintf("rtmp://127.0.0.1:%d/live/s", freePort(t)), nil, ErrRefused, "is an RTMP server listening on that port?"},
		"dns":     {"rtmp://no-such-host.invalid/live/s", []PublisherOption{noSuchHost}, ErrResolve, `"no-such-host.invalid"`},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := NewPublisher(c.url, append(append(clipOptions(clip), WithMaxAttempts(1)), c.opts...)...)
			require.NoError(t, err)
			<-p.Done()
			require.ErrorIs(t, p.Err(), c.sentinel)
			require.ErrorContains(t, p.Err(), c.text)
			var e *Error
			require.ErrorAs(t, p.Err(), &e)
			require.Equal(t, "dial", e.Op)
		})
	}
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
