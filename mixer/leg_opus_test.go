//go:build opus

package mixer_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/mixer"
	"github.com/sipcast/sipcast/mixer/opusdec"
)

// In the build tagged opus, a conference's Opus leg hears its mix: 20 ms frames of a
// 16 kHz mix (a 700 Hz tone) encoded by LegEncoder (libopus at 16 kHz, RTP timestamps
// 960 apart) and decoded by libopus at 48 kHz carry the tone; the encoder is not
// shared (its state cannot be copied).
func TestLegEncoderOpus(t *testing.T) {
	enc, err := mixer.NewLegEncoder(media.CodecOpus, 16000)
	require.NoError(t, err)
	require.False(t, enc.Shareable())
	dec, err := opusdec.New(1)
	require.NoError(t, err)
	frame := make([]float32, 320)
	var out []float32
	var pcm []int16
	for k := range 100 {
		for i := range frame {
			frame[i] = float32(0.3 * math.Sin(2*math.Pi*700*float64(k*320+i)/16000))
		}
		payload, step := enc.Encode(frame)
		require.Equal(t, uint32(960), step)
		require.NotEmpty(t, payload)
		pcm, err = dec.Decode(pcm[:0], payload)
		require.NoError(t, err)
		require.Len(t, pcm, 960)
		for _, v := range pcm {
			out = append(out, float32(v)/32768)
		}
	}
	tail := out[len(out)-48000:]
	require.Greater(t, goertzel(tail, 48000, 700), 1e-3, "the tone")
	require.Less(t, goertzel(tail, 48000, 1700), 1e-5, "nothing else")
}
