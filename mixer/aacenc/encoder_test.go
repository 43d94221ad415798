package aacenc_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/media/aac"
	"github.com/sipcast/sipcast/mixer/aacenc"
)

// adts wraps raw_data_blocks in ADTS headers so that ffmpeg reads them as a file.
func adts(frames [][]byte, rate, channels int) []byte {
	var out []byte
	for _, f := range frames {
		out, _ = aac.AppendADTS(out, aac.Config{ObjectType: aac.ObjectTypeAACLC, SampleRate: rate, Channels: channels}, f)
	}
	return out
}

// encodeFile encodes pcm (interleaved, ±1) and has ffmpeg decode it: it returns the
// decoded samples, what ffmpeg printed, and the stream's bitrate.
func encodeFile(t *testing.T, cfg aacenc.Config, pcm []float32) ([]float32, string, float64) {
	t.Helper()
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	e, err := aacenc.New(cfg)
	require.NoError(t, err)
	var frames [][]byte
	total := 0
	n := aacenc.FrameSamples * cfg.Channels
	for i := 0; i+n <= len(pcm); i += n {
		f, err := e.Encode(pcm[i : i+n])
		require.NoError(t, err)
		frames = append(frames, append([]byte(nil), f...))
		total += len(f)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "out.aac")
	require.NoError(t, os.WriteFile(in, adts(frames, cfg.SampleRate, cfg.Channels), 0o644))
	dec := filepath.Join(dir, "dec.raw")
	out, err := exec.Command(ffmpeg, "-hide_banner", "-v", "warning", "-y", "-i", in, "-f", "f32le", "-c:a", "pcm_f32le", dec).CombinedOutput()
	require.NoError(t, err, "%s", out)
	b, err := os.ReadFile(dec)
	require.NoError(t, err)
	got := make([]float32, len(b)/4)
	require.NoError(t, binary.Read(bytes.NewReader(b), binary.LittleEndian, got))
	seconds := float64(len(frames)*aacenc.FrameSamples) / float64(cfg.SampleRate)
	var warnings []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && !strings.Contains(l, "Estimating duration from bitrate") { // ADTS has no duration: the demuxer's note
			warnings = append(warnings, l)
		}
	}
	return got, strings.Join(warnings, "\n"), float64(total*8) / seconds
}

// encoderDelay is an Encoder's Delay.
func encoderDelay(t *testing.T) int {
	e, err := aacenc.New(aacenc.Config{SampleRate: 48000, Channels: 1})
	require.NoError(t, err)
	return e.Delay()
}

// snr aligns decoded against sent (mono, searching the delay) and returns the SNR in dB.
func snr(sent, decoded []float32, from, to int) (float64, int) {
	best, at := math.Inf(-1), 0
	for d := 0; d < 3000 && to+d <= len(decoded); d++ {
		var s, n float64
		for i := from; i < to; i++ {
			e := float64(decoded[i+d] - sent[i])
			s += float64(sent[i]) * float64(sent[i])
			n += e * e
		}
		if v := 10 * math.Log10(s/n); v > best {
			best, at = v, d
		}
	}
	return best, at
}

// A sweep from 100 Hz to 8 kHz, mono at 48 kHz and 64 kb/s, decoded by ffmpeg: no
// warning, the bitrate within 5 % of the target, the signal back after the codec's
// delay (two frames) at a signal-to-noise ratio logged and held to 60 dB (measured: 72).
func TestInteropSweepDecodedByFFmpeg(t *testing.T) {
	const rate = 48000
	pcm := make([]float32, 3*rate)
	for i := range pcm {
		tt := float64(i) / rate
		pcm[i] = float32(0.3 * math.Sin(2*math.Pi*(100*tt+7900/6.0*tt*tt)))
	}
	got, warnings, br := encodeFile(t, aacenc.Config{SampleRate: rate, Channels: 1, Bitrate: 64000}, pcm)
	require.Empty(t, warnings)
	v, delay := snr(pcm, got, 4096, len(pcm)-4096)
	t.Logf("sweep, 64 kb/s mono: SNR %.1f dB at a delay of %d samples, %.1f kb/s", v, delay, br/1000)
	require.Equal(t, encoderDelay(t), delay, "the encoder's delay")
	require.Greater(t, v, 60.0)
	require.InDelta(t, 64000, br, 64000*0.05)
}

// Stereo at 44.1 kHz and 128 kb/s: each channel comes back as it was sent (a sweep on
// the left, a chord on the right), ffmpeg warns of nothing, the bitrate holds.
func TestInteropStereoDecodedByFFmpeg(t *testing.T) {
	const rate = 44100
	n := 3 * rate
	pcm := make([]float32, 2*n)
	left, right := make([]float32, n), make([]float32, n)
	for i := range n {
		tt := float64(i) / rate
		left[i] = float32(0.3 * math.Sin(2*math.Pi*(200*tt+3000/6.0*tt*tt)))
		right[i] = float32(0.1*math.Sin(2*math.Pi*262*tt) + 0.1*math.Sin(2*math.Pi*330*tt) + 0.1*math.Sin(2*math.Pi*392*tt+float64(i%7)))
		pcm[2*i], pcm[2*i+1] = left[i], right[i]
	}
	got, warnings, br := encodeFile(t, aacenc.Config{SampleRate: rate, Channels: 2, Bitrate: 128000}, pcm)
	require.Empty(t, warnings)
	gl, gr := make([]float32, len(got)/2), make([]float32, len(got)/2)
	for i := range gl {
		gl[i], gr[i] = got[2*i], got[2*i+1]
	}
	vl, dl := snr(left, gl, 4096, n-4096)
	vr, dr := snr(right, gr, 4096, n-4096)
	t.Logf("stereo 128 kb/s: left SNR %.1f dB (delay %d), right %.1f dB (delay %d), %.1f kb/s", vl, dl, vr, dr, br/1000)
	require.Equal(t, encoderDelay(t), dl)
	require.Equal(t, encoderDelay(t), dr)
	require.Greater(t, vl, 60.0)
	require.Greater(t, vr, 20.0)
	require.InDelta(t, 128000, br, 128000*0.05)
}

// A constant bitrate is held whatever the source (silence too: fill elements take what
// the reservoir cannot), and a band-limited source (telephone speech, up to 3.4 kHz)
// costs less than full-band audio: the bands above it are not coded (the zero book,
// free), so the same bits quantize it finer. The band-limited source is the full-band
// one without its tones above 4 kHz.
func TestBandLimitedCostsLess(t *testing.T) {
	coded := func(f func(i int) float64) (bands int64, bits int64, gain float64) {
		e, err := aacenc.New(aacenc.Config{SampleRate: 48000, Channels: 1, Bitrate: 64000})
		require.NoError(t, err)
		frame := make([]float32, aacenc.FrameSamples)
		for k := range 50 {
			for i := range frame {
				frame[i] = float32(f(k*aacenc.FrameSamples + i))
			}
			_, err := e.Encode(frame)
			require.NoError(t, err)
		}
		st := e.Stats()
		require.EqualValues(t, 50, st.Frames)
		// The bitrate is held, but for what the bit reservoir (at most 6144 bits) still holds.
		require.InDelta(t, 50*64000*1024/48000, st.CodedBits+st.FillBits, 6144, "the bitrate is held")
		return st.CodedBands, st.CodedBits, float64(st.GlobalGains) / float64(st.Frames)
	}
	low := func(x float64) float64 {
		return 0.06*math.Sin(2*math.Pi*300*x) + 0.06*math.Sin(2*math.Pi*1200*x) + 0.06*math.Sin(2*math.Pi*3300*x)
	}
	silentBands, silentBits, _ := coded(func(int) float64 { return 0 })
	phone, _, phoneGain := coded(func(i int) float64 { return low(float64(i) / 48000) }) // tones up to 3.4 kHz
	full, _, fullGain := coded(func(i int) float64 {                                     // the same, and tones up to 15 kHz
		x := float64(i) / 48000
		return low(x) + 0.06*math.Sin(2*math.Pi*7000*x) + 0.06*math.Sin(2*math.Pi*11000*x) + 0.06*math.Sin(2*math.Pi*15000*x)
	})
	t.Logf("50 frames: silence %d bands coded (%d bits but fill); band-limited %d bands, mean global gain %.1f; full band %d bands, gain %.1f",
		silentBands, silentBits, phone, phoneGain, full, fullGain)
	require.Zero(t, silentBands)
	require.Less(t, phoneGain, fullGain-2, "the band-limited source is quantized at least 3 dB finer")
	e, err := aacenc.New(aacenc.Config{SampleRate: 48000, Channels: 1})
	require.NoError(t, err)
	_, err = e.Encode(make([]float32, 10))
	require.Error(t, err, "a frame is 1024 samples")
	for _, rate := range []int{-8000, 1, 3000, 7000, 44100} {
		_, err = aacenc.New(aacenc.Config{SampleRate: 48000, Channels: 1, InputRate: rate})
		require.Error(t, err, "input rate %d", rate)
	}
}

// A frame through an Encoder that has run allocates nothing.
func TestEncodeDoesNotAllocate(t *testing.T) {
	e, err := aacenc.New(aacenc.Config{SampleRate: 48000, Channels: 2, Bitrate: 128000})
	require.NoError(t, err)
	pcm := make([]float32, 2*aacenc.FrameSamples)
	for i := range pcm {
		pcm[i] = float32(0.2 * math.Sin(float64(i)*0.05))
	}
	for range 3 {
		_, err = e.Encode(pcm)
		require.NoError(t, err)
	}
	require.Zero(t, testing.AllocsPerRun(20, func() { _, _ = e.Encode(pcm) }))
}

func BenchmarkEncodeStereo128k(b *testing.B) {
	e, _ := aacenc.New(aacenc.Config{SampleRate: 48000, Channels: 2, Bitrate: 128000})
	pcm := make([]float32, 2*aacenc.FrameSamples)
	for i := range pcm {
		pcm[i] = float32(0.2 * math.Sin(float64(i)*0.05))
	}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = e.Encode(pcm)
	}
}

// Block switching: on clicks (noise bursts, testdata/clicks.flac) the encoder switches
// to short windows, which keeps the quantization noise from spreading before each
// attack (pre-echo): the noise from 20 to 5 ms before the bursts (beyond a short
// window's reach), decoded by ffmpeg, is at least 6 dB lower than with long windows
// only. A steady chord, once it has started, switches never.
func TestInteropShortBlocksCutPreEcho(t *testing.T) {
	peer.Require(t, "ffmpeg", "ffmpeg")
	clicks := readF32(t, filepath.Join("testdata", "clicks.flac"), 1)
	delay := encoderDelay(t)
	preEcho := func(longOnly bool) (float64, aacenc.Stats) {
		cfg := aacenc.Config{SampleRate: 48000, Channels: 1, Bitrate: 64000, LongOnly: longOnly}
		got, warnings, _ := encodeFile(t, cfg, clicks)
		require.Empty(t, warnings)
		var noise, signal float64
		for at := 12000; at+delay < len(got) && at < len(clicks); at += 12000 { // a burst every 250 ms
			for i := at - 960; i < at-240; i++ { // from 20 to 5 ms before: a short window's reach
				d := float64(got[i+delay] - clicks[i])
				noise += d * d
			}
			for i := at; i < at+480; i++ {
				signal += float64(clicks[i]) * float64(clicks[i])
			}
		}
		e, err := aacenc.New(cfg)
		require.NoError(t, err)
		for k := 0; k+aacenc.FrameSamples <= len(clicks); k += aacenc.FrameSamples {
			_, err := e.Encode(clicks[k : k+aacenc.FrameSamples])
			require.NoError(t, err)
		}
		return 10 * math.Log10(signal/noise), e.Stats()
	}
	long, longStats := preEcho(true)
	switched, stats := preEcho(false)
	t.Logf("burst energy over the noise before the bursts: long windows only %.1f dB, block switching %.1f dB (%d of %d frames short)",
		long, switched, stats.ShortFrames, stats.Frames)
	require.Zero(t, longStats.ShortFrames)
	require.Positive(t, stats.ShortFrames)
	require.Greater(t, switched, long+6)

	chord := readF32(t, filepath.Join("testdata", "chords.flac"), 1)
	e, err := aacenc.New(aacenc.Config{SampleRate: 48000, Channels: 1, Bitrate: 64000})
	require.NoError(t, err)
	var onset int64
	for k := 0; k+aacenc.FrameSamples <= len(chord); k += aacenc.FrameSamples {
		_, err := e.Encode(chord[k : k+aacenc.FrameSamples])
		require.NoError(t, err)
		if k == 4*aacenc.FrameSamples {
			onset = e.Stats().ShortFrames // its start, out of silence, is an attack
		}
	}
	require.Equal(t, onset, e.Stats().ShortFrames, "a steady chord has no attack")
}

// M/S stereo: a source whose channels are nearly the same (speech on both, the right
// 2 dB down) is coded as mid and side in most bands, and comes back better than coded as
// left and right at the same bitrate; channels with nothing in common (a sweep and a
// chord) are left as they are.
func TestInteropMidSide(t *testing.T) {
	peer.Require(t, "ffmpeg", "ffmpeg")
	speech := readF32(t, filepath.Join("testdata", "speech.flac"), 1)
	chord := readF32(t, filepath.Join("testdata", "chords.flac"), 1)
	sweep := readF32(t, filepath.Join("testdata", "sweep.flac"), 1)
	stereo := func(l, r []float32, gain float32) []float32 {
		x := make([]float32, 0, 2*len(l))
		for i := range l {
			x = append(x, l[i], gain*r[i%len(r)])
		}
		return x
	}
	run := func(pcm []float32, noMS bool) (float64, aacenc.Stats) {
		cfg := aacenc.Config{SampleRate: 48000, Channels: 2, Bitrate: 64000, NoMidSide: noMS}
		got, warnings, br := encodeFile(t, cfg, pcm)
		require.Empty(t, warnings)
		require.InDelta(t, 64000, br, 64000*0.05)
		snr, _ := quality(pcm, got, 2)
		e, err := aacenc.New(cfg)
		require.NoError(t, err)
		for k := 0; k+2*aacenc.FrameSamples <= len(pcm); k += 2 * aacenc.FrameSamples {
			_, err := e.Encode(pcm[k : k+2*aacenc.FrameSamples])
			require.NoError(t, err)
		}
		return snr, e.Stats()
	}
	alike := stereo(speech, speech, 0.8)
	ms, msStats := run(alike, false)
	lr, lrStats := run(alike, true)
	t.Logf("speech on both channels: M/S %.1f dB (%d of %d bands M/S), L/R %.1f dB", ms, msStats.MidSideBands, msStats.Bands, lr)
	require.Zero(t, lrStats.MidSideBands)
	require.Greater(t, msStats.MidSideBands, msStats.Bands/2, "most bands M/S")
	require.Greater(t, ms, lr+1)

	_, apart := run(stereo(sweep, chord, 1), false)
	t.Logf("a sweep and a chord: %d M/S bands of %d", apart.MidSideBands, apart.Bands)
	require.Less(t, apart.MidSideBands, apart.Bands/20)
}

// Any samples at all (NaN, infinities, beyond full scale: bytes taken as float32s) are
// encoded without a panic, in frames no larger than a decoder's input buffer.
func FuzzEncode(f *testing.F) {
	f.Add([]byte{0, 0, 0x80, 0x7f}, uint8(1))                   // +Inf
	f.Add([]byte{0, 0, 0xc0, 0x7f, 0, 0, 0x80, 0x3f}, uint8(2)) // NaN, 1
	f.Fuzz(func(t *testing.T, b []byte, channels uint8) {
		ch := 1 + int(channels%2)
		e, err := aacenc.New(aacenc.Config{SampleRate: 48000, Channels: ch, Bitrate: 32000 * ch})
		require.NoError(t, err)
		pcm := make([]float32, aacenc.FrameSamples*ch)
		for frame := 0; frame < 4; frame++ {
			for i := range pcm {
				k := (frame*len(pcm) + i) * 4
				if len(b) >= 4 {
					k %= len(b) - 3
					pcm[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[k:]))
				}
			}
			out, err := e.Encode(pcm)
			require.NoError(t, err)
			require.LessOrEqual(t, len(out), 6144/8*ch)
		}
	})
}
