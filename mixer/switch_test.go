package mixer_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/h264"
	"github.com/sipcast/sipcast/mixer"
)

// switchFeed is a timeline of two inputs' video, stepped by hand: input 0 the 720p clip
// (25 fps, its keyframes; the clip twice, 8 s), input 1 the 320x240 black
// pictures (5 fps, an IDR with its parameter sets every 2 s), each frame at its time.
type switchFeed struct {
	frames []fedFrame // in time order, input 0 first at equal times
}

type fedFrame struct {
	input int
	f     media.Frame
}

func newSwitchFeed(t *testing.T) *switchFeed {
	t.Helper()
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	var v0 []media.Frame
	for loop := range 2 {
		for _, f := range clip.Frames {
			if f.Codec != media.CodecH264 {
				continue
			}
			f.DTS += time.Duration(loop) * 4 * time.Second
			f.PTS = f.DTS
			if len(v0) == 0 { // the pipeline announces the track on the first keyframe
				f.Track = &media.Track{Codec: media.CodecH264, ClockRate: 90000, SPS: clip.SPS, PPS: clip.PPS, Width: 1280, Height: 720}
			}
			v0 = append(v0, f)
		}
	}
	black, err := mixer.NewBlackVideo()
	require.NoError(t, err)
	var v1 []media.Frame
	for i := range 40 { // 8 s at 5 fps
		nalus, _ := black.Next()
		var data []byte
		for _, n := range nalus {
			data = h264.AppendAVCC(data, n)
		}
		d := time.Duration(i) * 200 * time.Millisecond
		v1 = append(v1, media.Frame{Codec: media.CodecH264, DTS: d, PTS: d, Keyframe: i%10 == 0, Data: data})
	}
	feed := &switchFeed{}
	for a, b := 0, 0; a < len(v0) || b < len(v1); {
		if b >= len(v1) || a < len(v0) && v0[a].DTS <= v1[b].DTS {
			feed.frames = append(feed.frames, fedFrame{0, v0[a]})
			a++
		} else {
			feed.frames = append(feed.frames, fedFrame{1, v1[b]})
			b++
		}
	}
	return feed
}

type switchOut struct {
	input  int
	dts    time.Duration
	key    bool
	width  int // of the Track announced on it (0: none)
	height int
}

// The switch shows input 0 from its first keyframe; selected at 0.5 s, input 1 (which
// keeps being asked for a keyframe, no more often than the interval on its own frame
// times) is shown from its next IDR at 2 s, announced with its 320x240 parameter sets,
// and input 0 until then, so the picture never breaks; selected back at 5 s, input 0 is
// shown from its next keyframe, its 1280x720 announced again. Decode times only go
// up (input 1's IDR at 2 s comes after input 0's frame at 2 s: moved 1 ms on).
func TestVideoSwitchOnKeyframes(t *testing.T) {
	feed := newSwitchFeed(t)
	for _, fr := range feed.frames {
		if fr.input == 1 {
			require.Less(t, len(fr.f.Data), 1000, "black pictures are small")
		} else {
			require.Greater(t, len(fr.f.Data), 1000, "the clip's are not")
		}
	}
	var out []switchOut
	sink := media.FrameWriterFunc(func(f *media.Frame) error {
		o := switchOut{input: 0, dts: f.DTS, key: f.Keyframe}
		if len(f.Data) < 1000 {
			o.input = 1
		}
		if f.Track != nil {
			o.width, o.height = f.Track.Width, f.Track.Height
		}
		out = append(out, o)
		return nil
	})
	var now [2]time.Duration // each input's latest frame time, for the requests' spacing
	var requests [2][]time.Duration
	sw := mixer.NewVideoSwitch(2, mixer.VideoSwitchConfig{Next: sink, RequestKeyframe: func(i int) { requests[i] = append(requests[i], now[i]) }})
	require.Equal(t, -1, sw.Active())
	sw.Select(0)
	sw.Select(7)  // out of range: ignored
	sw.Select(-1) // too
	selected := map[time.Duration]int{500 * time.Millisecond: 1, 5 * time.Second: 0}
	for _, fr := range feed.frames {
		for at, i := range selected {
			if fr.f.DTS >= at {
				sw.Select(i)
				delete(selected, at)
			}
		}
		now[fr.input] = fr.f.DTS
		require.NoError(t, sw.Input(fr.input).WriteFrame(&fr.f))
	}
	require.Equal(t, 0, sw.Active())

	var switches []switchOut
	for i, o := range out {
		if i > 0 {
			require.Greater(t, o.dts, out[i-1].dts, "decode times only go up")
		}
		if i == 0 || o.input != out[i-1].input {
			require.True(t, o.key, "a switch is on a keyframe")
			switches = append(switches, o)
		} else if o.key {
			require.NotZero(t, o.width, "every keyframe carries the input's parameter sets (an output that starts late opens on it)")
		} else {
			require.Zero(t, o.width, "parameter sets announced on switches and keyframes only")
		}
	}
	back := time.Duration(-1) // input 0's first keyframe from 5 s on
	for _, fr := range feed.frames {
		if fr.input == 0 && fr.f.Keyframe && fr.f.DTS >= 5*time.Second {
			back = fr.f.DTS
			break
		}
	}
	require.Equal(t, []switchOut{
		{input: 0, dts: 0, key: true, width: 1280, height: 720},
		{input: 1, dts: 2*time.Second + time.Millisecond, key: true, width: 320, height: 240},
		{input: 0, dts: back, key: true, width: 1280, height: 720},
	}, switches)
	st := sw.Stats()
	require.EqualValues(t, 3, st.Switches)
	require.EqualValues(t, 1, st.Clamped)
	require.EqualValues(t, len(out), st.Forwarded)
	require.NotEmpty(t, requests[1])
	for i := 1; i < len(requests[1]); i++ {
		require.GreaterOrEqual(t, requests[1][i]-requests[1][i-1], mixer.DefaultKeyframeRequestInterval, "requests to input 1: %v", requests[1])
	}
	require.Greater(t, len(requests[1]), 1, "asked again while its keyframe did not come: %v", requests[1])
	require.Len(t, requests[0], 2, "input 0: at the start and at 5 s: %v", requests[0])
}

// An input that sends no video is never switched to: the picture stays where it is,
// and selecting the input shown cancels the wait.
func TestVideoSwitchSkipsAnInputWithoutVideo(t *testing.T) {
	feed := newSwitchFeed(t)
	var n int
	sw := mixer.NewVideoSwitch(3, mixer.VideoSwitchConfig{Next: media.FrameWriterFunc(func(*media.Frame) error { n++; return nil })})
	sw.Select(0)
	for k, fr := range feed.frames {
		if fr.input != 0 {
			continue
		}
		if k == len(feed.frames)/2 {
			sw.Select(2) // a leg with audio alone
		}
		require.NoError(t, sw.Input(0).WriteFrame(&fr.f))
	}
	require.Equal(t, 0, sw.Active())
	require.Equal(t, 200, n, "every frame of input 0 shown")
	sw.Select(0)
	require.EqualValues(t, 1, sw.Stats().Switches)
}

// Forwarding the input shown allocates nothing.
func TestVideoSwitchDoesNotAllocate(t *testing.T) {
	feed := newSwitchFeed(t)
	sw := mixer.NewVideoSwitch(2, mixer.VideoSwitchConfig{Next: media.NoOpFrameWriter{}})
	sw.Select(0)
	in := sw.Input(0)
	var frames []media.Frame
	for _, fr := range feed.frames {
		if fr.input == 0 {
			frames = append(frames, fr.f)
		}
	}
	require.NoError(t, in.WriteFrame(&frames[0]))
	k := 1
	allocs := testing.AllocsPerRun(100, func() {
		f := frames[k%len(frames)]
		f.Track = nil
		f.DTS = time.Duration(k) * 40 * time.Millisecond
		_ = in.WriteFrame(&f)
		k++
	})
	require.Zero(t, allocs)
}
