package g722_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/mixer/g722"
)

// signal is three seconds at 16 kHz: a sweep from 50 Hz to 7.5 kHz, speech-like bursts
// of noise, silence and full-scale clipping, seeded.
func signal() []int16 {
	rng := rand.New(rand.NewPCG(722, 1))
	var s []int16
	for i := range 48000 {
		t := float64(i) / 16000
		var v float64
		switch {
		case i < 16000:
			f := 50 + 7450*t
			v = 12000 * math.Sin(2*math.Pi*f*t)
		case i < 32000:
			v = 6000 * rng.NormFloat64() * (0.5 + 0.5*math.Sin(2*math.Pi*3*t))
		case i < 36000:
			v = 0
		default:
			v = 40000 * math.Sin(2*math.Pi*440*t)
		}
		s = append(s, int16(max(-32768, min(32767, v))))
	}
	return s
}

// The codes of ffmpeg's g722 encoder and the samples of its decoder (Debian ffmpeg)
// are ours, byte for byte and sample for sample: the test signal encoded, and both our
// codes and random bytes decoded.
func TestInteropBitExactWithFFmpeg(t *testing.T) {
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	dir := t.TempDir()
	pcm := signal()
	var raw bytes.Buffer
	require.NoError(t, binary.Write(&raw, binary.LittleEndian, pcm))
	in := filepath.Join(dir, "in.raw")
	require.NoError(t, os.WriteFile(in, raw.Bytes(), 0o644))
	enc := filepath.Join(dir, "ffmpeg.g722")
	out, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "s16le", "-ar", "16000", "-ac", "1", "-i", in,
		"-c:a", "g722", "-f", "g722", enc).CombinedOutput()
	require.NoError(t, err, "%s", out)
	want, err := os.ReadFile(enc)
	require.NoError(t, err)
	got := g722.NewEncoder().Encode(nil, pcm)
	require.Equal(t, len(want), len(got))
	for i := range want {
		if want[i] != got[i] {
			t.Fatalf("code %d: ffmpeg %#x, ours %#x", i, want[i], got[i])
		}
	}

	rng := rand.New(rand.NewPCG(9, 9))
	noise := make([]byte, 8000)
	for i := range noise {
		noise[i] = byte(rng.IntN(256))
	}
	for name, codes := range map[string][]byte{"ours": got, "random": noise} {
		f := filepath.Join(dir, name+".g722")
		require.NoError(t, os.WriteFile(f, codes, 0o644))
		dec := filepath.Join(dir, name+".raw")
		out, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "g722", "-i", f,
			"-c:a", "pcm_s16le", "-f", "s16le", dec).CombinedOutput()
		require.NoError(t, err, "%s", out)
		b, err := os.ReadFile(dec)
		require.NoError(t, err)
		wantPCM := make([]int16, len(b)/2)
		require.NoError(t, binary.Read(bytes.NewReader(b), binary.LittleEndian, wantPCM))
		gotPCM := g722.NewDecoder().Decode(nil, codes)
		require.Equal(t, len(wantPCM), len(gotPCM), name)
		for i := range wantPCM {
			if wantPCM[i] != gotPCM[i] {
				t.Fatalf("%s: sample %d: ffmpeg %d, ours %d", name, i, wantPCM[i], gotPCM[i])
			}
		}
	}
}

// Through the codec, a 1 kHz tone comes back: its SNR after the QMF's delay is what
// 64 kb/s ADPCM gives (logged; at least 20 dB).
func TestRoundTrip(t *testing.T) {
	pcm := make([]int16, 16000)
	for i := range pcm {
		pcm[i] = int16(10000 * math.Sin(2*math.Pi*1000*float64(i)/16000))
	}
	out := g722.NewDecoder().Decode(nil, g722.NewEncoder().Encode(nil, pcm))
	require.Len(t, out, len(pcm))
	best := 0.0
	for delay := 0; delay < 64; delay++ {
		var sig, noise float64
		for i := 2000; i < len(pcm)-100; i++ {
			d := float64(out[i+delay]) - float64(pcm[i])
			sig += float64(pcm[i]) * float64(pcm[i])
			noise += d * d
		}
		best = math.Max(best, 10*math.Log10(sig/noise))
	}
	t.Logf("1 kHz tone through G.722: SNR %.1f dB", best)
	require.Greater(t, best, 20.0)
}

// An odd number of samples: the last waits for the next call, the codes are the same.
func TestOddCounts(t *testing.T) {
	pcm := signal()[:1001]
	whole := g722.NewEncoder().Encode(nil, pcm[:1000])
	e := g722.NewEncoder()
	var parts []byte
	for i := 0; i < 1001; i += 7 {
		parts = e.Encode(parts, pcm[i:min(i+7, 1001)])
	}
	require.Equal(t, whole, parts)
}

// 20 ms (320 samples, 160 codes) with room in the slices allocates nothing.
func TestNoAllocation(t *testing.T) {
	pcm := signal()[:320]
	e, d := g722.NewEncoder(), g722.NewDecoder()
	codes, out := make([]byte, 0, 160), make([]int16, 0, 320)
	require.Zero(t, testing.AllocsPerRun(100, func() {
		codes = e.Encode(codes[:0], pcm)
		out = d.Decode(out[:0], codes)
	}))
}

// Any bytes from the network decode without a panic, two samples each.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0, 0xff, 0x3f, 0xc0})
	f.Fuzz(func(t *testing.T, b []byte) {
		require.Len(t, g722.NewDecoder().Decode(nil, b), 2*len(b))
	})
}
