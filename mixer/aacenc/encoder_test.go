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
// delay (one frame) at a signal-to-noise ratio logged and held to 60 dB (measured: 72).
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
	require.Equal(t, aacenc.FrameSamples, delay, "the encoder's delay")
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
	require.Equal(t, aacenc.FrameSamples, dl)
	require.Equal(t, aacenc.FrameSamples, dr)
	require.Greater(t, vl, 60.0)
	require.Greater(t, vr, 20.0)
	require.InDelta(t, 128000, br, 128000*0.05)
}

// A constant bitrate is held whatever the source (silence too: fill elements take what
// the reservoir cannot), and a band-limited source (telephone speech, up to 3.4 kHz)
// costs less than full-band audio: fewer bands are coded (the rest is the zero book,
// free), so the same bits quantize it finer.
func TestBandLimitedCostsLess(t *testing.T) {
	coded := func(f func(i int) float64) (bands, bits int64) {
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
		return st.CodedBands, st.CodedBits
	}
	silentBands, silentBits := coded(func(int) float64 { return 0 })
	phone, _ := coded(func(i int) float64 { // tones up to 3.4 kHz
		x := float64(i) / 48000
		return 0.1*math.Sin(2*math.Pi*300*x) + 0.1*math.Sin(2*math.Pi*1200*x) + 0.1*math.Sin(2*math.Pi*3300*x)
	})
	full, _ := coded(func(i int) float64 { // the same, and tones up to 15 kHz
		x := float64(i) / 48000
		return 0.06*math.Sin(2*math.Pi*300*x) + 0.06*math.Sin(2*math.Pi*1200*x) + 0.06*math.Sin(2*math.Pi*3300*x) +
			0.06*math.Sin(2*math.Pi*7000*x) + 0.06*math.Sin(2*math.Pi*11000*x) + 0.06*math.Sin(2*math.Pi*15000*x)
	})
	t.Logf("coded bands in 50 frames: silence %d (%d bits but fill), band-limited %d, full band %d", silentBands, silentBits, phone, full)
	require.Zero(t, silentBands)
	require.Less(t, phone, full)
	e, err := aacenc.New(aacenc.Config{SampleRate: 48000, Channels: 1})
	require.NoError(t, err)
	_, err = e.Encode(make([]float32, 10))
	require.Error(t, err, "a frame is 1024 samples")
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
