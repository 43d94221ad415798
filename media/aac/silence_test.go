package aac_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/media/aac"
)

func TestSilentFrameRefusesWhatItCannotMake(t *testing.T) {
	_, err := aac.SilentFrame(aac.Config{ObjectType: aac.ObjectTypeSBR, SampleRate: 48000, Channels: 2})
	require.ErrorContains(t, err, "only AAC-LC")
	_, err = aac.SilentFrame(aac.Config{ObjectType: aac.ObjectTypeAACLC, SampleRate: 48000, Channels: 6})
	require.ErrorContains(t, err, "only mono and stereo")
}

// adts wraps raw access units in ADTS headers (ISO/IEC 14496-3 1.A.2) so that ffmpeg
// reads them without a container.
func adts(c aac.Config, frames [][]byte) []byte {
	idx := map[int]int{96000: 0, 88200: 1, 64000: 2, 48000: 3, 44100: 4, 32000: 5, 24000: 6, 22050: 7, 16000: 8, 12000: 9, 11025: 10, 8000: 11}[c.SampleRate]
	var out []byte
	for _, f := range frames {
		n := 7 + len(f)
		out = append(out, 0xFF, 0xF1, byte((c.ObjectType-1)<<6|idx<<2|c.Channels>>2),
			byte((c.Channels&3)<<6|n>>11), byte(n>>3), byte((n&7)<<5|0x1F), 0xFC)
		out = append(out, f...)
	}
	return out
}

// ffmpeg decodes 50 silent frames, mono and stereo at several rates, to exactly 50 × 1024
// samples per channel of digital silence.
func TestInteropSilentFrameDecodesToSilence(t *testing.T) {
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	for _, c := range []aac.Config{
		{ObjectType: aac.ObjectTypeAACLC, SampleRate: 48000, Channels: 1},
		{ObjectType: aac.ObjectTypeAACLC, SampleRate: 48000, Channels: 2},
		{ObjectType: aac.ObjectTypeAACLC, SampleRate: 16000, Channels: 1},
		{ObjectType: aac.ObjectTypeAACLC, SampleRate: 44100, Channels: 2},
	} {
		t.Run(fmt.Sprintf("%dHz_%dch", c.SampleRate, c.Channels), func(t *testing.T) {
			f, err := aac.SilentFrame(c)
			require.NoError(t, err)
			frames := make([][]byte, 50)
			for i := range frames {
				frames[i] = f
			}
			path := filepath.Join(t.TempDir(), "silence.aac")
			require.NoError(t, os.WriteFile(path, adts(c, frames), 0o644))
			cmd := exec.Command(ffmpeg, "-hide_banner", "-nostdin", "-xerror", "-i", path, "-af", "volumedetect", "-f", "null", "-")
			timer := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() })
			defer timer.Stop()
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			n := regexp.MustCompile(`n_samples: (\d+)`).FindSubmatch(out)
			require.NotNil(t, n, "%s", out)
			require.Equal(t, fmt.Sprint(50*aac.SamplesPerFrame*c.Channels), string(n[1]), "samples decoded")
			require.Regexp(t, `max_volume: -91\.0 dB`, string(out), "digital silence")
		})
	}
}
