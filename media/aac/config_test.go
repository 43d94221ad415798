package aac

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConfig(t *testing.T) {
	for _, c := range []struct {
		b   []byte
		cfg Config
	}{
		{[]byte{0x11, 0x90}, Config{ObjectTypeAACLC, 48000, 2}},                   // ffmpeg AAC-LC 48 kHz stereo
		{[]byte{0x11, 0x88}, Config{ObjectTypeAACLC, 48000, 1}},                   // mono
		{[]byte{0x12, 0x10}, Config{ObjectTypeAACLC, 44100, 2}},                   // 44.1 kHz stereo
		{[]byte{0x15, 0x88}, Config{ObjectTypeAACLC, 8000, 1}},                    // 8 kHz mono
		{[]byte{0x17, 0x80, 0x1f, 0x40, 0x08}, Config{ObjectTypeAACLC, 16000, 1}}, // explicit frequency (index 15)
	} {
		got, err := ParseConfig(c.b)
		require.NoError(t, err)
		require.Equal(t, c.cfg, got)
		enc, err := got.Marshal()
		require.NoError(t, err)
		again, err := ParseConfig(enc)
		require.NoError(t, err)
		require.Equal(t, got, again)
	}
	_, err := ParseConfig([]byte{0x11})
	require.ErrorIs(t, err, ErrConfigTruncated)
	_, err = ParseConfig([]byte{0x16, 0x88})
	require.Error(t, err, "reserved frequency index 13")
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte{0x11, 0x90})
	f.Add([]byte{0xf8, 0x11, 0x90, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			return
		}
		require.GreaterOrEqual(t, c.Channels, 0)
	})
}
