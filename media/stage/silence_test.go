package stage

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/aac"
)

type written struct {
	dts    time.Duration
	silent bool
}

// run feeds video frames every 40 ms from 0 to end (a keyframe each second) and the real
// audio frames (48 kHz AAC) whose DTS audio accepts, interleaved by DTS, and returns the
// audio the outputs got.
func runSilence(t *testing.T, s *silence, end time.Duration, audio func(time.Duration) bool) []written {
	t.Helper()
	var out []written
	write := func(f *media.Frame) {
		require.Equal(t, media.CodecAAC, f.Codec)
		out = append(out, written{f.DTS, string(f.Data) == string(s.frame.Data)})
	}
	const afd = time.Second * aac.SamplesPerFrame / 48000
	v, a := time.Duration(0), time.Duration(0)
	for v < end || a < end {
		if v <= a {
			s.video(&media.Frame{Codec: media.CodecH264, DTS: v, PTS: v, Keyframe: v%time.Second == 0}, write)
			v += 40 * time.Millisecond
			continue
		}
		if audio(a) {
			f := &media.Frame{Codec: media.CodecAAC, DTS: a, PTS: a, Data: []byte{1, 2, 3}}
			if s.audio(f, write) {
				write(f)
			}
		}
		a += afd
	}
	return out
}

// checkContinuous asserts the audio is one frame after another with no gap or overlap
// larger than half a frame.
func checkContinuous(t *testing.T, out []written) {
	t.Helper()
	const afd = time.Second * aac.SamplesPerFrame / 48000
	for i := 1; i < len(out); i++ {
		step := out[i].dts - out[i-1].dts
		require.InDelta(t, float64(afd), float64(step), float64(afd/2), "frame %d at %v follows %v", i, out[i].dts, out[i-1].dts)
	}
}

func TestSilenceFillsLateAudio(t *testing.T) {
	cfg := aac.Config{ObjectType: aac.ObjectTypeAACLC, SampleRate: 48000, Channels: 2}
	s := newSilence(cfg, false)
	require.NotNil(t, s)
	out := runSilence(t, s, 3*time.Second, func(d time.Duration) bool { return d >= 1500*time.Millisecond })
	require.Equal(t, time.Duration(0), out[0].dts, "audio starts with the first keyframe")
	require.True(t, out[0].silent)
	checkContinuous(t, out)
	firstReal := -1
	for i, w := range out {
		if !w.silent {
			firstReal = i
			break
		}
	}
	require.Positive(t, firstReal)
	require.InDelta(t, float64(1500*time.Millisecond), float64(out[firstReal].dts), float64(22*time.Millisecond), "the real audio keeps its time")
	for _, w := range out[firstReal:] {
		require.False(t, w.silent, "no silence once the audio flows")
	}
	require.Zero(t, s.dropped)
}

func TestSilenceFillsAPauseAndDropsAudioInsideIt(t *testing.T) {
	cfg := aac.Config{ObjectType: aac.ObjectTypeAACLC, SampleRate: 48000, Channels: 1}
	s := newSilence(cfg, false)
	// Audio pauses from 1 s to 2.5 s; then a short burst from inside the filled part
	// arrives (late), and the audio resumes at 2.5 s.
	out := runSilence(t, s, 4*time.Second, func(d time.Duration) bool {
		return d < time.Second || d >= 2500*time.Millisecond
	})
	checkContinuous(t, out)
	var silent int
	for _, w := range out {
		if w.silent {
			silent++
			require.True(t, w.dts >= time.Second-22*time.Millisecond && w.dts < 2500*time.Millisecond, "silence only in the pause: %v", w.dts)
		}
	}
	require.InDelta(t, 1.5*48000/aac.SamplesPerFrame, silent, 2, "the pause is filled")

	// Audio that stops for good trails the video by fillLag until the call ends; then
	// the end is filled level with the video.
	s3 := newSilence(cfg, false)
	var out3 []written
	out3 = append(out3, runSilence(t, s3, 3*time.Second, func(d time.Duration) bool { return d < time.Second })...)
	require.InDelta(t, float64(3*time.Second-fillLag), float64(out3[len(out3)-1].dts), float64(50*time.Millisecond))
	s3.finish(func(f *media.Frame) { out3 = append(out3, written{f.DTS, true}) })
	checkContinuous(t, out3)
	require.InDelta(t, float64(3*time.Second), float64(out3[len(out3)-1].dts), float64(25*time.Millisecond), "the last audio frame ends with the last video frame")

	late := &media.Frame{Codec: media.CodecAAC, DTS: 1200 * time.Millisecond, Data: []byte{1}}
	s2 := newSilence(cfg, false)
	var n int
	runSilence(t, s2, 2300*time.Millisecond, func(d time.Duration) bool { return d < time.Second })
	require.False(t, s2.audio(late, func(*media.Frame) { n++ }), "audio inside silence already written is dropped")
	require.Equal(t, uint64(1), s2.dropped)
	require.Zero(t, n)
}

func TestSilenceSyntheticTrackFollowsVideo(t *testing.T) {
	s := newSilence(SilentConfig, true)
	out := runSilence(t, s, 2*time.Second, func(time.Duration) bool { return false })
	checkContinuous(t, out)
	require.Equal(t, time.Duration(0), out[0].dts)
	last := out[len(out)-1].dts
	require.InDelta(t, float64(2*time.Second), float64(last), float64(70*time.Millisecond), "level with the video, not behind it")
	require.False(t, s.audio(&media.Frame{Codec: media.CodecAAC, DTS: time.Second}, func(*media.Frame) {}), "no real frames into the silent track")
}

func TestSilenceStartsAtTheFirstKeyframe(t *testing.T) {
	s := newSilence(SilentConfig, true)
	var out []written
	write := func(f *media.Frame) { out = append(out, written{f.DTS, true}) }
	for d := time.Duration(0); d < time.Second; d += 40 * time.Millisecond {
		s.video(&media.Frame{Codec: media.CodecH264, DTS: d, PTS: d}, write)
	}
	require.Empty(t, out, "no audio before a picture")
	s.video(&media.Frame{Codec: media.CodecH264, DTS: time.Second, PTS: time.Second, Keyframe: true}, write)
	require.NotEmpty(t, out)
	require.Equal(t, time.Second, out[0].dts)
}

func TestSilenceNotForHEAAC(t *testing.T) {
	require.Nil(t, newSilence(aac.Config{ObjectType: aac.ObjectTypeSBR, SampleRate: 48000, Channels: 2}, false))
}

func BenchmarkSilenceVideoFrame(b *testing.B) {
	s := newSilence(SilentConfig, true)
	write := func(*media.Frame) {}
	f := &media.Frame{Codec: media.CodecH264, Keyframe: true}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f.DTS = time.Duration(i) * 40 * time.Millisecond
		s.video(f, write)
	}
}

// Days of silence (a room streamed around the clock) keep exact frame steps: the sample
// count never overflows.
func TestSilenceLongRunning(t *testing.T) {
	s := newSilence(SilentConfig, true)
	var last, prev time.Duration
	n := 0
	write := func(f *media.Frame) { prev, last = last, f.DTS; n++ }
	start := 100 * time.Hour
	s.video(&media.Frame{Codec: media.CodecH264, DTS: start, PTS: start, Keyframe: true}, write)
	for d := 40 * time.Millisecond; d <= 10*time.Second; d += 40 * time.Millisecond {
		s.video(&media.Frame{Codec: media.CodecH264, DTS: start + d}, write)
	}
	require.Equal(t, 469, n)
	require.InDelta(t, float64(time.Second*aac.SamplesPerFrame/48000), float64(last-prev), 1)
}

// A jump of hours in the timeline is skipped, not filled with hours of silence.
func TestSilenceSkipsAJump(t *testing.T) {
	s := newSilence(SilentConfig, true)
	n := 0
	write := func(*media.Frame) { n++ }
	s.video(&media.Frame{Codec: media.CodecH264, DTS: 0, Keyframe: true}, write)
	s.video(&media.Frame{Codec: media.CodecH264, DTS: 3 * time.Hour}, write)
	require.Less(t, n, 5)
}

// Audio that comes before the first keyframe is held and released from the keyframe's
// presentation time on; held longer than maxHold (no picture comes), it goes out oldest
// first as it is.
func TestSilenceHoldsAudioForTheFirstPicture(t *testing.T) {
	cfg := aac.Config{ObjectType: aac.ObjectTypeAACLC, SampleRate: 48000, Channels: 2}
	s := newSilence(cfg, false)
	var out []written
	write := func(f *media.Frame) { out = append(out, written{f.DTS, string(f.Data) == string(s.frame.Data)}) }
	const afd = time.Second * aac.SamplesPerFrame / 48000
	for a := time.Duration(0); a < 500*time.Millisecond; a += afd {
		f := &media.Frame{Codec: media.CodecAAC, DTS: a, PTS: a, Data: []byte{byte(a / afd)}}
		require.False(t, s.audio(f, write), "held")
	}
	require.Empty(t, out)
	s.video(&media.Frame{Codec: media.CodecH264, DTS: 200 * time.Millisecond, PTS: 280 * time.Millisecond, Keyframe: true}, write)
	require.NotEmpty(t, out)
	require.InDelta(t, float64(280*time.Millisecond), float64(out[0].dts), float64(afd/2), "from the picture on")
	require.False(t, out[0].silent)
	checkContinuous(t, out)

	s2 := newSilence(cfg, false)
	var n int
	for a := time.Duration(0); a < maxHold+time.Second; a += afd {
		s2.audio(&media.Frame{Codec: media.CodecAAC, DTS: a, PTS: a, Data: []byte{1}}, func(*media.Frame) { n++ })
	}
	require.InDelta(t, float64(time.Second/afd), n, 2, "no picture: the audio goes on, maxHold late")
}
