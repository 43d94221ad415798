//go:build opus

package mixer_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/hraban/opus.v2"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/mixer"
)

// In the build tagged opus, Opus in (libopus encoded the tone, 20 ms packets), AAC out,
// decoded by ffmpeg: the tone lies where it was sent.
func TestInteropOpusTranscodedDecodedByFFmpeg(t *testing.T) {
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	require.True(t, mixer.CanTranscode(media.CodecOpus))
	enc, err := opus.NewEncoder(48000, 1, opus.AppAudio)
	require.NoError(t, err)
	require.NoError(t, enc.SetBitrate(64000))
	var out collect
	tc, err := mixer.NewTranscoder(&out, media.CodecOpus)
	require.NoError(t, err)
	pcm := make([]int16, 960)
	packet := make([]byte, 1500)
	for i := 0; i < 100; i++ {
		for k := range pcm {
			n := i*960 + k
			pcm[k] = int16(8000 * math.Sin(2*math.Pi*440*float64(n)/48000))
		}
		n, err := enc.Encode(pcm, packet)
		require.NoError(t, err)
		pts := time.Second + time.Duration(i)*20*time.Millisecond
		require.NoError(t, tc.WriteFrame(&media.Frame{Codec: media.CodecOpus, PTS: pts, DTS: pts, Data: packet[:n]}))
	}
	checkDecoded(t, ffmpeg, media.CodecOpus, out.frames, 15)
}
