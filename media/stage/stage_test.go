package stage_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/aac"
	"github.com/sipcast/sipcast/media/stage"
)

type sink struct{ frames []media.Frame }

func (s *sink) WriteFrame(f *media.Frame) error { s.frames = append(s.frames, *f); return nil }

var ps = &media.Track{Codec: media.CodecH264, SPS: []byte{0x67}, PPS: []byte{0x68}}

func video(dts time.Duration, key bool, track *media.Track) *media.Frame {
	return &media.Frame{Codec: media.CodecH264, DTS: dts, PTS: dts, Keyframe: key, Track: track}
}

// The Gate drops video until a keyframe whose parameter sets are known, asks for a
// keyframe once while it waits, and lets audio through.
func TestGate(t *testing.T) {
	var out sink
	asked := 0
	g := stage.NewGate(&out, func() { asked++ })
	require.NoError(t, g.WriteFrame(video(0, false, nil)))
	require.NoError(t, g.WriteFrame(video(40*time.Millisecond, true, nil)), "a keyframe without parameter sets")
	require.NoError(t, g.WriteFrame(&media.Frame{Codec: media.CodecAAC, DTS: 50 * time.Millisecond}))
	require.NoError(t, g.WriteFrame(video(80*time.Millisecond, false, ps)), "parameter sets announced on a P-frame")
	require.False(t, g.Open())
	require.NoError(t, g.WriteFrame(video(120*time.Millisecond, true, nil)))
	require.NoError(t, g.WriteFrame(video(160*time.Millisecond, false, nil)))
	require.True(t, g.Open())
	require.Equal(t, 1, asked)
	require.Equal(t, uint64(3), g.Dropped())
	require.Len(t, out.frames, 3)
	require.Equal(t, media.CodecAAC, out.frames[0].Codec)
	require.Equal(t, 120*time.Millisecond, out.frames[1].DTS)
}

// Monotonic moves a frame timed at or before the last one of its kind (a new source
// restarted the timeline) to 1 ms after it, keeping its PTS-DTS distance; kinds are
// independent.
func TestMonotonic(t *testing.T) {
	var out sink
	m := stage.NewMonotonic(&out)
	require.NoError(t, m.WriteFrame(&media.Frame{Codec: media.CodecH264, DTS: time.Second, PTS: time.Second + 80*time.Millisecond}))
	require.NoError(t, m.WriteFrame(&media.Frame{Codec: media.CodecAAC, DTS: 500 * time.Millisecond, PTS: 500 * time.Millisecond}))
	require.NoError(t, m.WriteFrame(&media.Frame{Codec: media.CodecH264, DTS: 0, PTS: 40 * time.Millisecond}))
	require.Equal(t, time.Second+time.Millisecond, out.frames[2].DTS, "strictly after the last")
	require.Equal(t, time.Second+41*time.Millisecond, out.frames[2].PTS)
	require.Equal(t, 500*time.Millisecond, out.frames[1].DTS, "audio has its own timeline")
	require.NoError(t, m.WriteFrame(&media.Frame{Codec: media.CodecH264, DTS: time.Second + time.Millisecond, PTS: time.Second + 41*time.Millisecond}))
	require.Equal(t, time.Second+2*time.Millisecond, out.frames[3].DTS, "a frame at the last one's time moves on too")
	require.Equal(t, uint64(2), m.Clamped())
}

// A Tee isolates a writer that fails: it gets no more frames, OnError is told once, and
// the others go on.
func TestTee(t *testing.T) {
	var a, c sink
	fails := 0
	bad := media.FrameWriterFunc(func(*media.Frame) error { fails++; return errors.New("full") })
	tee := stage.NewTee(&a, bad)
	tee.Add(&c)
	var told []int
	tee.OnError = func(i int, err error) { told = append(told, i) }
	for i := 0; i < 3; i++ {
		require.NoError(t, tee.WriteFrame(video(time.Duration(i), true, nil)))
	}
	require.Len(t, a.frames, 3)
	require.Len(t, c.frames, 3)
	require.Equal(t, 1, fails)
	require.Equal(t, []int{1}, told)
	require.Len(t, tee.Writers(), 2)
}

// Without video, Align passes audio as it comes; with video and no filling it holds the
// audio for the picture and trims it to it, and fills nothing.
func TestAlignModes(t *testing.T) {
	var out sink
	a := stage.NewAlign(&out, stage.AlignConfig{})
	require.NoError(t, a.WriteFrame(&media.Frame{Codec: media.CodecPCMU, DTS: 0}))
	require.Len(t, out.frames, 1)

	out.frames = nil
	a = stage.NewAlign(&out, stage.AlignConfig{Video: true})
	for d := time.Duration(0); d < 200*time.Millisecond; d += 20 * time.Millisecond {
		require.NoError(t, a.WriteFrame(&media.Frame{Codec: media.CodecAAC, DTS: d, PTS: d, Data: []byte{1}}))
	}
	require.Empty(t, out.frames, "held for the picture")
	require.NoError(t, a.WriteFrame(video(100*time.Millisecond, true, ps)))
	require.NotEmpty(t, out.frames)
	require.Equal(t, media.CodecH264, out.frames[0].Codec)
	for _, f := range out.frames[1:] {
		require.GreaterOrEqual(t, f.DTS, 80*time.Millisecond, "audio from the picture on (within half a frame)")
	}
	for d := 400 * time.Millisecond; d < 2*time.Second; d += 40 * time.Millisecond {
		require.NoError(t, a.WriteFrame(video(d, false, nil)))
	}
	require.NoError(t, a.Finish())
	require.Zero(t, a.Inserted(), "no filling without Fill")
}

// An error of the writer behind Align reaches the caller.
func TestAlignPassesErrors(t *testing.T) {
	a := stage.NewAlign(media.FrameWriterFunc(func(*media.Frame) error { return errors.New("gone") }), stage.AlignConfig{Video: true})
	require.Error(t, a.WriteFrame(video(0, true, ps)))
}

// The stages allocate nothing per frame in steady state.
func TestStagesDoNotAllocate(t *testing.T) {
	cfg := aac.Config{ObjectType: aac.ObjectTypeAACLC, SampleRate: 48000, Channels: 2}
	align := stage.NewAlign(media.NoOpFrameWriter{}, stage.AlignConfig{Video: true, Fill: &cfg})
	head := stage.NewMonotonic(stage.NewGate(stage.NewTee(align), nil))
	v := &media.Frame{Codec: media.CodecH264, Keyframe: true, Track: ps, Data: make([]byte, 1000)}
	a := &media.Frame{Codec: media.CodecAAC, Data: make([]byte, 200)}
	var vt, at time.Duration
	step := func() {
		v.DTS, v.PTS = vt, vt
		_ = head.WriteFrame(v)
		vt += 40 * time.Millisecond
		for at < vt {
			a.DTS, a.PTS = at, at
			_ = head.WriteFrame(a)
			at += 21333333
		}
	}
	for i := 0; i < 100; i++ {
		step()
	}
	require.Zero(t, testing.AllocsPerRun(1000, step))
}

// A pipeline in front of a writer: video gated at the first keyframe with parameter
// sets, audio started with the picture and a pause filled with silence.
func Example() {
	counts := map[string]int{}
	out := media.FrameWriterFunc(func(f *media.Frame) error {
		counts[f.Codec.String()]++
		return nil
	})
	cfg := aac.Config{ObjectType: aac.ObjectTypeAACLC, SampleRate: 48000, Channels: 1}
	w := stage.NewGate(stage.NewAlign(out, stage.AlignConfig{Video: true, Fill: &cfg}), nil)
	track := &media.Track{Codec: media.CodecH264, SPS: []byte{0x67}, PPS: []byte{0x68}}
	const aacFrame = time.Second * 1024 / 48000
	var a time.Duration
	for i := 0; i < 50; i++ { // 2 s of video, a keyframe each second; audio for 0.5 s
		d := time.Duration(i) * 40 * time.Millisecond
		_ = w.WriteFrame(&media.Frame{Codec: media.CodecH264, DTS: d, PTS: d, Keyframe: i%25 == 0, Track: track})
		for ; a < d && a < 500*time.Millisecond; a += aacFrame {
			_ = w.WriteFrame(&media.Frame{Codec: media.CodecAAC, DTS: a, PTS: a, Data: []byte{1}})
		}
	}
	fmt.Println(counts["H264"], "video frames,", counts["AAC"], "audio frames (24 real, then silence)")
	// Output: 50 video frames, 69 audio frames (24 real, then silence)
}
