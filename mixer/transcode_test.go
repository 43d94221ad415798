package mixer_test

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/aac"
	"github.com/sipcast/sipcast/mixer"
	"github.com/sipcast/sipcast/mixer/aacenc"
	"github.com/sipcast/sipcast/mixer/g711"
	"github.com/sipcast/sipcast/mixer/g722"
	"github.com/sipcast/sipcast/mixer/opusdec"
	"github.com/sipcast/sipcast/mixer/resample"
)

type collect struct{ frames []media.Frame }

func (c *collect) WriteFrame(f *media.Frame) error {
	g := *f
	g.Data = append([]byte(nil), f.Data...)
	if f.Track != nil {
		g.Track = f.Track.Clone()
	}
	c.frames = append(c.frames, g)
	return nil
}

// tone is a 440 Hz tone of seconds at rate, as 16-bit samples.
func tone(rate int, seconds float64) []int16 {
	s := make([]int16, int(float64(rate)*seconds))
	for i := range s {
		s[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/float64(rate)))
	}
	return s
}

// 2 s of PCMU in 20 ms frames from PTS 1 s, with the frame at 1 s lost: AAC frames at
// 48 kHz, announced once, spaced by exactly 1024 samples from the first frame's time,
// lasting what the input lasted (the lost frame became silence); video passes.
func TestTranscodeTimeline(t *testing.T) {
	var out collect
	tc, err := mixer.NewTranscoder(&out, media.CodecPCMU)
	require.NoError(t, err)
	pcm := tone(8000, 2)
	start := time.Second
	for i := 0; i+160 <= len(pcm); i += 160 {
		pts := start + time.Duration(i)*time.Second/8000
		if i == 8000 {
			continue // lost
		}
		require.NoError(t, tc.WriteFrame(&media.Frame{Codec: media.CodecPCMU, PTS: pts, DTS: pts, Data: g711.ULaw.Encode(nil, pcm[i:i+160])}))
	}
	require.NoError(t, tc.WriteFrame(&media.Frame{Codec: media.CodecH264, PTS: 3 * time.Second, Keyframe: true, Data: []byte{1}}))
	var aac []media.Frame
	for _, f := range out.frames {
		if f.Codec == media.CodecAAC {
			aac = append(aac, f)
		}
	}
	require.Equal(t, media.CodecH264, out.frames[len(out.frames)-1].Codec, "video passes")
	require.NotNil(t, aac[0].Track)
	require.Equal(t, []byte{0x11, 0x88}, aac[0].Track.Config)
	for _, f := range aac[1:] {
		require.Nil(t, f.Track)
	}
	require.Equal(t, start, aac[0].PTS)
	for i, f := range aac {
		require.Equal(t, start+time.Duration(i)*1024*time.Second/48000, f.PTS, "frame %d", i)
		require.Equal(t, f.PTS, f.DTS)
	}
	// 2 s of input minus the resampler's and the encoder's look-ahead still inside.
	require.InDelta(t, 2*48000/1024, len(aac), 2)
}

// G.711 and G.722 in, AAC out, decoded by ffmpeg: the tone comes back where it was
// sent (the cross-correlation peaks at no delay) and it is the loudest thing there.
func TestInteropTranscodeDecodedByFFmpeg(t *testing.T) {
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	for _, c := range []struct {
		codec media.Codec
		rate  int
		enc   func([]int16) []byte
		step  int
	}{
		{media.CodecPCMU, 8000, func(s []int16) []byte { return g711.ULaw.Encode(nil, s) }, 160},
		{media.CodecPCMA, 8000, func(s []int16) []byte { return g711.ALaw.Encode(nil, s) }, 160},
		{media.CodecG722, 16000, func(s []int16) []byte { return g722.NewEncoder().Encode(nil, s) }, 320},
	} {
		var out collect
		tc, err := mixer.NewTranscoder(&out, c.codec)
		require.NoError(t, err)
		pcm := tone(c.rate, 2)
		coded := c.enc(pcm) // one stream, cut into 20 ms frames
		per := len(coded) * c.step / len(pcm)
		for i := 0; i*per+per <= len(coded); i++ {
			pts := time.Second + time.Duration(i)*20*time.Millisecond
			require.NoError(t, tc.WriteFrame(&media.Frame{Codec: c.codec, PTS: pts, DTS: pts, Data: coded[i*per : (i+1)*per]}))
		}
		checkDecoded(t, ffmpeg, c.codec, out.frames, 20)
	}
}

// 20 ms of PCMU through a Transcoder that has run allocates nothing.
func TestTranscodeDoesNotAllocate(t *testing.T) {
	tc, err := mixer.NewTranscoder(media.NoOpFrameWriter{}, media.CodecPCMU)
	require.NoError(t, err)
	data := g711.ULaw.Encode(nil, tone(8000, 0.02))
	pts := time.Duration(0)
	f := media.Frame{Codec: media.CodecPCMU, Data: data}
	for range 100 {
		f.PTS, f.DTS = pts, pts
		require.NoError(t, tc.WriteFrame(&f))
		pts += 20 * time.Millisecond
	}
	require.Zero(t, testing.AllocsPerRun(100, func() {
		f.PTS, f.DTS = pts, pts
		_ = tc.WriteFrame(&f)
		pts += 20 * time.Millisecond
	}))
}

// checkDecoded has ffmpeg decode the AAC frames (the input was a 440 Hz tone at 8000/32768
// from PTS 1 s) and checks that the tone lies where it was sent, at minSNR dB or better.
func checkDecoded(t *testing.T, ffmpeg string, codec media.Codec, frames []media.Frame, minSNR float64) {
	t.Helper()
	checkDecodedLag(t, ffmpeg, codec, frames, minSNR, 2)
}

// checkDecodedLag is checkDecoded with the lag (in 48 kHz samples) tolerated.
func checkDecodedLag(t *testing.T, ffmpeg string, codec media.Codec, frames []media.Frame, minSNR float64, maxLag int) {
	t.Helper()
	var adts []byte
	offset := frames[0].PTS - time.Second // where the first AAC frame's samples belong
	for _, f := range frames {
		var err error
		adts, err = aac.AppendADTS(adts, aac.Config{ObjectType: aac.ObjectTypeAACLC, SampleRate: 48000, Channels: 1}, f.Data)
		require.NoError(t, err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "a.aac")
	require.NoError(t, os.WriteFile(in, adts, 0o644))
	dec, err := peer.DecodeAudio(t, in, 48000, 1)
	require.NoError(t, err)
	// The sent tone at 48 kHz, and the lag where the decoded signal matches it best.
	shift := float64(offset) / float64(time.Second) // the decoded file starts at the first frame's time
	ref := func(i int) float64 { return 8000.0 / 32768 * math.Sin(2*math.Pi*440*(float64(i)/48000+shift)) }
	best, lag := math.Inf(-1), 0
	for d := -50; d <= 50; d++ { // within half the tone's period: beyond, a whole period matches as well
		var s float64
		for i := 4800; i < 4800+24000 && i+d < len(dec); i++ {
			s += float64(dec[i+d]) * ref(i)
		}
		if s > best {
			best, lag = s, d
		}
	}
	var sig, noise float64
	for i := 4800; i < 4800+24000; i++ {
		e := float64(dec[i]) - ref(i)
		sig, noise = sig+ref(i)*ref(i), noise+e*e
	}
	t.Logf("%v: lag %d samples, SNR %.1f dB", codec, lag, 10*math.Log10(sig/noise))
	require.InDelta(t, 0, lag, float64(maxLag), "%v: the audio is where it was sent", codec)
	require.Greater(t, 10*math.Log10(sig/noise), 20.0, "%v", codec)
}

// In the default build Opus is not decoded: the Bridge is told so (CanTranscode) and
// the Transcoder refuses it with opusdec.ErrNotBuilt.
func TestOpusOnlyWhenBuilt(t *testing.T) {
	require.Equal(t, opusdec.Available, mixer.CanTranscode(media.CodecOpus))
	if !opusdec.Available {
		_, err := mixer.NewTranscoder(media.NoOpFrameWriter{}, media.CodecOpus)
		require.ErrorIs(t, err, opusdec.ErrNotBuilt)
	}
}

// A gap longer than 200 ms (a pause, or a caller's timestamps asking for a lot of
// silence) moves the timeline on without making any: the frames after it are timed
// after the gap, and only what was sent was encoded.
func TestTranscodeLongGapMovesTimeline(t *testing.T) {
	var out collect
	tc, err := mixer.NewTranscoder(&out, media.CodecPCMU)
	require.NoError(t, err)
	data := g711.ULaw.Encode(nil, tone(8000, 0.02))
	write := func(pts time.Duration) {
		require.NoError(t, tc.WriteFrame(&media.Frame{Codec: media.CodecPCMU, PTS: pts, DTS: pts, Data: data}))
	}
	for i := range 50 { // 1 s
		write(time.Duration(i) * 20 * time.Millisecond)
	}
	before := len(out.frames)
	for i := range 50 { // a second more, after a gap of 1.5 s
		write(2500*time.Millisecond + time.Duration(i)*20*time.Millisecond)
	}
	after := out.frames[before:]
	require.InDelta(t, 47, len(after), 2, "about a second of AAC for a second of input, not 2.5")
	require.Greater(t, after[len(after)-1].PTS, 3*time.Second, "timed after the gap")
	for i := 1; i < len(out.frames); i++ {
		require.Greater(t, out.frames[i].PTS, out.frames[i-1].PTS)
	}
}

// BenchmarkTranscodePCMU transcodes one second of a PCMU call (50 frames of 20 ms) per
// operation: ns/op is the CPU a call's audio costs per second.
func BenchmarkTranscodePCMU(b *testing.B) {
	tc, err := mixer.NewTranscoder(media.NoOpFrameWriter{}, media.CodecPCMU)
	require.NoError(b, err)
	data := g711.ULaw.Encode(nil, tone(8000, 1))
	pts := time.Duration(0)
	f := media.Frame{Codec: media.CodecPCMU}
	b.ReportAllocs()
	for b.Loop() {
		for i := range 50 {
			f.PTS, f.DTS, f.Data = pts, pts, data[i*160:i*160+160]
			_ = tc.WriteFrame(&f)
			pts += 20 * time.Millisecond
		}
	}
	st := tc.EncoderStats()
	b.ReportMetric(float64(st.Quantizations)/float64(st.Frames), "quantizations/frame")
}

// The black video: ten pictures a loop, the first an IDR with SPS and PPS, every NAL
// unit small enough for one RTP packet; ffmpeg decodes a loop to ten 320x240 pictures.
func TestInteropBlackVideoDecodedByFFmpeg(t *testing.T) {
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	v, err := mixer.NewBlackVideo()
	require.NoError(t, err)
	var annexB []byte
	for i := range 10 {
		nalus, step := v.Next()
		require.EqualValues(t, 18000, step)
		types := ""
		for _, n := range nalus {
			require.Less(t, len(n), 1200)
			types += fmt.Sprint(n[0] & 0x1f)
			annexB = append(append(annexB, 0, 0, 0, 1), n...)
		}
		if i == 0 {
			require.Equal(t, "785", types, "SPS, PPS, IDR")
		} else {
			require.Equal(t, "1", types)
		}
	}
	nalus, _ := v.Next()
	require.EqualValues(t, 5, nalus[len(nalus)-1][0]&0x1f, "the loop starts again at the IDR")
	in := filepath.Join(t.TempDir(), "black.264")
	require.NoError(t, os.WriteFile(in, annexB, 0o644))
	out, err := exec.Command(ffmpeg, "-hide_banner", "-v", "error", "-i", in, "-f", "rawvideo", "-pix_fmt", "gray", "-").Output()
	require.NoError(t, err)
	require.Len(t, out, 10*320*240, "ten 320x240 pictures")
	for _, y := range out {
		require.LessOrEqual(t, y, byte(20), "black")
	}
}

// The Transcoder's encoder takes G.711 at 8 kHz and upsamples it with no filter
// (zeros after each sample, aacenc.Config.InputRate), leaving the images to its band
// limit. Its output, decoded by ffmpeg, is as close to
// the interpolated input as what a sharp resampler (Kaiser, 90 dB) in front of the same
// encoder gives, in the band G.711 carries (compared below 3 kHz, where the sharp
// filter's transition band leaves both alike): within 0.75 dB on speech, chords and pink
// noise (from mixer/aacenc/testdata, made 8 kHz G.711 here). Measured: 0 to 0.5 dB
// less, the most on chords (44 dB), where, most likely, what the sine window leaks of
// the images into the coded band begins to count.
func TestInteropTranscodeAsSharpResampling(t *testing.T) {
	peer.Require(t, "ffmpeg", "ffmpeg")
	for _, name := range []string{"speech", "chords", "pink"} {
		src, err := peer.DecodeAudio(t, filepath.Join("aacenc", "testdata", name+".flac"), 48000, 1)
		require.NoError(t, err)
		down, err := resample.New(resample.Config{In: 48000, Out: 8000, Channels: 1})
		require.NoError(t, err)
		x8 := down.Flush(down.Process(nil, src))
		pcm := make([]int16, len(x8))
		for i, v := range x8 {
			pcm[i] = int16(max(-32768, min(32767, v*16384)))
		}
		coded := g711.ULaw.Encode(nil, pcm)
		// The reference: the G.711 decoded and upsampled by the sharp resampler.
		f8 := make([]float32, len(pcm))
		for i, v := range g711.ULaw.Decode(nil, coded) {
			f8[i] = float32(v) / 32768
		}
		up, err := resample.New(resample.Config{In: 8000, Out: 48000, Channels: 1})
		require.NoError(t, err)
		ref := up.Flush(up.Process(nil, f8))

		var out collect
		tc, err := mixer.NewTranscoder(&out, media.CodecPCMU)
		require.NoError(t, err)
		for i := 0; i+160 <= len(coded); i += 160 {
			pts := time.Second + time.Duration(i)*time.Second/8000
			require.NoError(t, tc.WriteFrame(&media.Frame{Codec: media.CodecPCMU, PTS: pts, DTS: pts, Data: coded[i : i+160]}))
		}
		var ours [][]byte
		for _, f := range out.frames {
			ours = append(ours, f.Data)
		}
		// The same encoder settings behind the sharp resampler.
		enc, err := aacenc.New(aacenc.Config{SampleRate: 48000, Channels: 1, Bitrate: 32000, Bandwidth: 4000})
		require.NoError(t, err)
		var sharp [][]byte
		for i := 0; i+aacenc.FrameSamples <= len(ref); i += aacenc.FrameSamples {
			b, err := enc.Encode(ref[i : i+aacenc.FrameSamples])
			require.NoError(t, err)
			sharp = append(sharp, append([]byte(nil), b...))
		}
		snr := func(frames [][]byte) float64 {
			var adts []byte
			for _, f := range frames {
				adts, err = aac.AppendADTS(adts, aac.Config{ObjectType: aac.ObjectTypeAACLC, SampleRate: 48000, Channels: 1}, f)
				require.NoError(t, err)
			}
			p := filepath.Join(t.TempDir(), "a.aac")
			require.NoError(t, os.WriteFile(p, adts, 0o644))
			got, err := peer.DecodeAudio(t, p, 48000, 1)
			require.NoError(t, err)
			return alignedSNR(ref, got, 3000, 3000)
		}
		zs, sh := snr(ours), snr(sharp)
		t.Logf("%s: the Transcoder %.2f dB, a sharp resampler %.2f dB", name, zs, sh)
		require.Greater(t, zs, sh-0.75, "%s", name)
	}
}

// alignedSNR is the SNR of got against ref at 48 kHz (from skip samples on, as many
// less at the end), got shifted by the lag, within ±maxLag, that matches best. Both are
// first brought to 8 kHz by the same sharp filter, so that only the band a G.711 call
// carries is compared: the sharp resampler that made ref leaves out the top of that
// band (its transition), which the Transcoder keeps.
func alignedSNR(ref, got []float32, skip, maxLag int) float64 {
	best, lag := math.Inf(-1), 0
	for d := -maxLag; d <= maxLag; d++ {
		var s float64
		for i := skip; i < len(ref)-skip && i+d >= 0 && i+d < len(got); i++ {
			s += float64(got[i+d]) * float64(ref[i])
		}
		if s > best {
			best, lag = s, d
		}
	}
	n := len(ref) - 2*skip
	a, b := make([]float32, 0, n), make([]float32, 0, n)
	for i := skip; i < len(ref)-skip && i+lag >= 0 && i+lag < len(got); i++ {
		a, b = append(a, ref[i]), append(b, got[i+lag])
	}
	narrow := func(x []float32) []float32 {
		r, err := resample.New(resample.Config{In: 48000, Out: 8000, Channels: 1, Passband: 0.7})
		if err != nil {
			panic(err)
		}
		return r.Flush(r.Process(nil, x))
	}
	a, b = narrow(a), narrow(b)
	var sig, noise float64
	for i := 400; i < len(a)-400; i++ {
		e := float64(b[i]) - float64(a[i])
		sig, noise = sig+float64(a[i])*float64(a[i]), noise+e*e
	}
	return 10 * math.Log10(sig/noise)
}
