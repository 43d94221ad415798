package conference_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/sip"
)

// tap is an application output that keeps what it was given.
type tap struct {
	mu           sync.Mutex
	tracks       []media.Track
	video, audio int
	firstVideo   *media.Frame
	firstAudio   time.Duration
	closed       chan struct{}
}

func (tp *tap) output(_ conference.CallInfo, tracks []media.Track) (media.FrameWriter, error) {
	tp.mu.Lock()
	tp.tracks = tracks
	tp.mu.Unlock()
	return tp, nil
}

func (tp *tap) WriteFrame(f *media.Frame) error {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	switch {
	case f.Codec.IsVideo():
		if tp.firstVideo == nil {
			c := *f
			tp.firstVideo = &c
		}
		tp.video++
	default:
		if tp.audio == 0 {
			tp.firstAudio = f.DTS
		}
		tp.audio++
	}
	return nil
}

func (tp *tap) Close() error { close(tp.closed); return nil }

// goCall places one call with only Go peers and returns what the output got.
func goCall(t *testing.T, video, audio bool, frames func(*testmedia.Clip) []media.Frame) (*tap, conference.CallInfo) {
	t.Helper()
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	url, _ := goRTMP(t)
	tp := &tap{closed: make(chan struct{})}
	b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, StreamURL: url("go"),
		RecordDir: t.TempDir(), Outputs: []conference.OutputFunc{tp.output}})
	require.NoError(t, err)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	call, _, sender := dialBridge(ctx, t, b, clip, video, audio)
	var send []media.Frame
	var sentVideo, sentAudio uint64
	for _, f := range frames(clip) {
		switch {
		case f.Codec.IsVideo() && video:
			sentVideo++
		case !f.Codec.IsVideo() && audio:
			sentAudio++
		default:
			continue
		}
		send = append(send, f)
	}
	require.NoError(t, sender.Play(ctx, send, 0, 0, nil))
	// B-frames still held for reordering (up to 3) and the last AAC frame may stay behind.
	var got conference.CallInfo
	require.Eventually(t, func() bool {
		c := b.Calls()
		if len(c) == 1 && c[0].VideoFrames+3 >= sentVideo && c[0].AudioFrames+1 >= sentAudio {
			got = c[0]
			return true
		}
		return false
	}, 20*time.Second, 10*time.Millisecond, "frames received: %+v", b.Calls())
	require.NoError(t, call.Hangup(ctx))
	select {
	case <-tp.closed:
	case <-ctx.Done():
		t.Fatal("the output was not closed at the call's end")
	}
	return tp, got
}

// The Bridge's behaviour with only Go (in-process caller and RTMP server): audio that
// starts 1.5 s late, video that starts 2 s late, an audio-only call and a video-only call.
// The outputs start at a keyframe with its parameter sets, every frame from there reaches
// them, late audio is preceded by silence, and the tracks say what the outputs carry.
func TestBridgeTracksGoOnly(t *testing.T) {
	peer.CheckNoLeaks(t)
	t.Run("late audio", func(t *testing.T) {
		tp, got := goCall(t, true, true, func(c *testmedia.Clip) []media.Frame { return trackFrom(c, media.CodecAAC, 1500*time.Millisecond) })
		require.Len(t, tp.tracks, 2)
		require.True(t, tp.firstVideo.Keyframe)
		require.GreaterOrEqual(t, tp.video, int(got.VideoFrames)-3, "every video frame received reaches the output")
		require.Less(t, tp.firstAudio, tp.firstVideo.DTS+100*time.Millisecond, "silence fills the audio before it starts")
		require.Greater(t, tp.audio, int(got.AudioFrames), "silence added to the real audio")
	})
	t.Run("late video", func(t *testing.T) {
		tp, got := goCall(t, true, true, func(c *testmedia.Clip) []media.Frame { return trackFrom(c, media.CodecH264, 2*time.Second) })
		require.Len(t, tp.tracks, 2)
		require.True(t, tp.firstVideo.Keyframe, "the outputs start at a keyframe")
		require.GreaterOrEqual(t, tp.video, int(got.VideoFrames)-3)
		require.Positive(t, tp.audio)
	})
	t.Run("audio only", func(t *testing.T) {
		tp, got := goCall(t, false, true, func(c *testmedia.Clip) []media.Frame { return c.Interleaved() })
		require.Len(t, tp.tracks, 1)
		require.Equal(t, media.CodecAAC, tp.tracks[0].Codec)
		require.Zero(t, tp.video)
		require.GreaterOrEqual(t, tp.audio, int(got.AudioFrames)-1)
	})
	t.Run("video only", func(t *testing.T) {
		tp, got := goCall(t, true, false, func(c *testmedia.Clip) []media.Frame { return c.Interleaved() })
		require.Len(t, tp.tracks, 2, "a silent AAC track for players that want audio")
		require.Equal(t, 1280, tp.tracks[0].Width)
		require.GreaterOrEqual(t, tp.video, int(got.VideoFrames)-3)
		require.Positive(t, tp.audio, "silence")
	})
}
