package g711_test

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
	"github.com/sipcast/sipcast/mixer/g711"
)

var laws = []struct {
	name   string
	c      g711.Codec
	format string // ffmpeg's
}{{"ulaw", g711.ULaw, "mulaw"}, {"alaw", g711.ALaw, "alaw"}}

// Every code decodes to a level that encodes back to it (µ-law's negative zero, 0x7f,
// comes back as the positive one), and every sample gets the code of the nearest level.
func TestNearestLevel(t *testing.T) {
	for _, l := range laws {
		levels := l.c.Decode(nil, allCodes())
		for c, v := range levels {
			got := l.c.EncodeSample(v)
			if l.name == "ulaw" && c == 0x7f {
				require.Equal(t, byte(0xff), got)
				continue
			}
			require.Equal(t, byte(c), got, "%s code %#x (level %d)", l.name, c, v)
		}
		for s := math.MinInt16; s <= math.MaxInt16; s += 7 {
			got := int(l.c.DecodeSample(l.c.EncodeSample(int16(s))))
			best := math.MaxInt
			for _, v := range levels {
				best = min(best, abs(s-int(v)))
			}
			// The encoder sees 14 bits of the sample and rounds the midpoint to them: its
			// decision is at most 8 off the exact midpoint.
			require.LessOrEqual(t, abs(s-got), best+8, "%s sample %d: level %d, nearest %d away", l.name, s, got, best)
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func allCodes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// Encoding and decoding 20 ms (160 samples) into slices with room allocates nothing.
func TestNoAllocation(t *testing.T) {
	pcm := make([]int16, 160)
	codes := make([]byte, 0, 160)
	out := make([]int16, 0, 160)
	for i := range pcm {
		pcm[i] = int16(i * 200)
	}
	for _, l := range laws {
		n := testing.AllocsPerRun(100, func() {
			codes = l.c.Encode(codes[:0], pcm)
			out = l.c.Decode(out[:0], codes)
		})
		require.Zero(t, n, l.name)
	}
}

// Any bytes from the network decode without a panic into as many samples, which encode
// back to codes that decode to the same samples.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x00, 0x7f, 0x80, 0xff})
	f.Add(allCodes())
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, l := range laws {
			pcm := l.c.Decode(nil, b)
			require.Len(t, pcm, len(b))
			again := l.c.Decode(nil, l.c.Encode(nil, pcm))
			require.Equal(t, pcm, again)
		}
	})
}

// The codes and samples of ffmpeg's pcm_mulaw and pcm_alaw (Debian ffmpeg) are ours,
// byte for byte: every 16-bit sample value and two seconds of a seeded sweep with noise
// encoded, every code decoded.
func TestInteropBitExactWithFFmpeg(t *testing.T) {
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	dir := t.TempDir()
	var pcm []int16
	for s := math.MinInt16; s <= math.MaxInt16; s++ {
		pcm = append(pcm, int16(s))
	}
	rng := rand.New(rand.NewPCG(711, 1))
	for i := range 16000 {
		f := 100 + 3900*float64(i)/16000
		v := 20000*math.Sin(2*math.Pi*f*float64(i)/8000) + 2000*rng.NormFloat64()
		pcm = append(pcm, int16(max(-32768, min(32767, v))))
	}
	in := filepath.Join(dir, "in.raw")
	var raw bytes.Buffer
	require.NoError(t, binary.Write(&raw, binary.LittleEndian, pcm))
	require.NoError(t, os.WriteFile(in, raw.Bytes(), 0o644))
	codes := filepath.Join(dir, "codes.raw")
	require.NoError(t, os.WriteFile(codes, allCodes(), 0o644))
	for _, l := range laws {
		enc := filepath.Join(dir, l.name+".enc")
		out, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "s16le", "-ar", "8000", "-ac", "1", "-i", in,
			"-c:a", "pcm_"+l.format, "-f", l.format, enc).CombinedOutput()
		require.NoError(t, err, "%s", out)
		want, err := os.ReadFile(enc)
		require.NoError(t, err)
		got := l.c.Encode(nil, pcm)
		require.Equal(t, len(want), len(got))
		for i := range want {
			if want[i] != got[i] {
				t.Fatalf("%s: sample %d (%d): ffmpeg %#x, ours %#x", l.name, i, pcm[i], want[i], got[i])
			}
		}
		dec := filepath.Join(dir, l.name+".dec")
		out, err = exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", l.format, "-ar", "8000", "-ac", "1", "-i", codes,
			"-c:a", "pcm_s16le", "-f", "s16le", dec).CombinedOutput()
		require.NoError(t, err, "%s", out)
		b, err := os.ReadFile(dec)
		require.NoError(t, err)
		wantPCM := make([]int16, len(b)/2)
		require.NoError(t, binary.Read(bytes.NewReader(b), binary.LittleEndian, wantPCM))
		require.Equal(t, wantPCM, l.c.Decode(nil, allCodes()), l.name)
	}
}
