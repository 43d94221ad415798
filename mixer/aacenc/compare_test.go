package aacenc_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/mixer/aacenc"
)

// readF32 has ffmpeg decode a file to 48 kHz float samples with channels.
func readF32(t *testing.T, file string, channels int) []float32 {
	t.Helper()
	x, err := peer.DecodeAudio(t, file, 48000, channels)
	require.NoError(t, err)
	return x
}

// quality aligns decoded (interleaved) against ref and returns the SNR (signal to
// distortion over the whole signal) and the segmental SNR (the mean of 20 ms segments'
// SNR, each within -10 and 80 dB, silent segments left out), both in dB.
func quality(ref, decoded []float32, channels int) (snr, seg float64) {
	frames := len(ref) / channels
	from, to := 2048, frames-4096 // the decoded stream lacks the last frames the encoder holds
	best, delay := math.Inf(-1), 0
	for d := 0; d <= 2100 && to+d <= len(decoded)/channels; d++ {
		var x float64
		for i := from; i < to; i += 7 {
			for c := range channels {
				x += float64(ref[i*channels+c]) * float64(decoded[(i+d)*channels+c])
			}
		}
		if x > best {
			best, delay = x, d
		}
	}
	var s, e float64
	var segs []float64
	var ss, se float64
	n := 0
	for i := from; i < to; i++ {
		for c := range channels {
			r, d := float64(ref[i*channels+c]), float64(decoded[(i+delay)*channels+c])
			s, e, ss, se = s+r*r, e+(r-d)*(r-d), ss+r*r, se+(r-d)*(r-d)
		}
		if n++; n == 960 {
			if ss > 1e-6*960 {
				segs = append(segs, math.Min(80, math.Max(-10, 10*math.Log10(ss/(se+1e-20)))))
			}
			ss, se, n = 0, 0, 0
		}
	}
	for _, v := range segs {
		seg += v
	}
	return 10 * math.Log10(s/e), seg / float64(len(segs))
}

var benchRe = regexp.MustCompile(`utime=([0-9.]+)s`)

// Our encoder against ffmpeg's native aac encoder, on the same inputs in one run: speech,
// chords, a sweep, pink noise and clicks (testdata/), mono and stereo, 64 and 128 kb/s. Each
// output is decoded by ffmpeg (no warning) and compared with the input: its SNR and its
// segmental SNR are within 1 dB of ffmpeg's or better, and its bitrate within 5 % of the
// target. The table, with both encoders' CPU time, is logged (docs/PERFORMANCE.md).
func TestInteropAgainstFFmpegAAC(t *testing.T) {
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	inputs := []string{"speech", "chords", "sweep", "pink", "clicks"}
	mono := map[string][]float32{}
	for _, in := range inputs {
		mono[in] = readF32(t, filepath.Join("testdata", in+".flac"), 1)
	}
	var rows []string
	var oursCPU, ffCPU float64
	for _, channels := range []int{1, 2} {
		for _, kbps := range []int{64, 128} {
			for i, in := range inputs {
				pcm := mono[in]
				if channels == 2 { // the next input on the right
					right := mono[inputs[(i+1)%len(inputs)]]
					st := make([]float32, 0, 2*len(pcm))
					for k := range pcm {
						st = append(st, pcm[k], right[k%len(right)])
					}
					pcm = st
				}
				dir := t.TempDir()
				raw := filepath.Join(dir, "in.raw")
				var b bytes.Buffer
				require.NoError(t, binary.Write(&b, binary.LittleEndian, pcm))
				require.NoError(t, os.WriteFile(raw, b.Bytes(), 0o644))

				// Ours.
				e, err := aacenc.New(aacenc.Config{SampleRate: 48000, Channels: channels, Bitrate: kbps * 1000})
				require.NoError(t, err)
				var frames [][]byte
				bytesOut := 0
				start := time.Now()
				n := aacenc.FrameSamples * channels
				for k := 0; k+n <= len(pcm); k += n {
					f, err := e.Encode(pcm[k : k+n])
					require.NoError(t, err)
					frames = append(frames, append([]byte(nil), f...))
					bytesOut += len(f)
				}
				ours := time.Since(start).Seconds()
				oursCPU += ours
				aacFile := filepath.Join(dir, "ours.aac")
				require.NoError(t, os.WriteFile(aacFile, adts(frames, 48000, channels), 0o644))
				seconds := float64(len(frames)*aacenc.FrameSamples) / 48000
				ourRate := float64(bytesOut*8) / seconds
				ourSNR, ourSeg := quality(pcm, readF32(t, aacFile, channels), channels)

				// ffmpeg's.
				ffFile := filepath.Join(dir, "ffmpeg.m4a")
				o, err := exec.Command(ffmpeg, "-hide_banner", "-benchmark", "-y", "-f", "f32le", "-ar", "48000", "-ac", strconv.Itoa(channels), "-i", raw,
					"-c:a", "aac", "-b:a", fmt.Sprintf("%dk", kbps), ffFile).CombinedOutput()
				require.NoError(t, err, "%s", o)
				m := benchRe.FindStringSubmatch(string(o))
				require.NotNil(t, m, "%s", o)
				ff, _ := strconv.ParseFloat(m[1], 64)
				ffCPU += ff
				st, err := os.Stat(ffFile)
				require.NoError(t, err)
				ffRate := float64(st.Size()*8) / (float64(len(pcm)/channels) / 48000)
				ffSNR, ffSeg := quality(pcm, readF32(t, ffFile, channels), channels)

				row := fmt.Sprintf("| %s | %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |", in, map[int]string{1: "mono", 2: "stereo"}[channels], kbps,
					ourSNR, ffSNR, ourSeg, ffSeg, ourRate/1000, ffRate/1000)
				rows = append(rows, row)
				t.Log(row)
				require.GreaterOrEqual(t, ourSNR, ffSNR-1, "%s %d ch %d kb/s: SNR", in, channels, kbps)
				require.GreaterOrEqual(t, ourSeg, ffSeg-1, "%s %d ch %d kb/s: segmental SNR", in, channels, kbps)
				require.InDelta(t, float64(kbps*1000), ourRate, float64(kbps*1000)*0.05, "%s bitrate", in)
			}
		}
	}
	t.Logf("\n| input | channels | kb/s | SNR ours | SNR ffmpeg | segSNR ours | segSNR ffmpeg | kb/s ours | kb/s ffmpeg (m4a, container included) |\n|---|---|---|---|---|---|---|---|---|\n%s\nCPU: ours %.2f s, ffmpeg %.2f s (utime, decoding the input included): ffmpeg/ours = %.1f",
		strings.Join(rows, "\n"), oursCPU, ffCPU, ffCPU/oursCPU)
}
