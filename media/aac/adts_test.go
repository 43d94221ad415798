package aac_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/media/aac"
)

// The header says the frame's length (header included), rate index and channels, and
// what ADTS cannot say is refused.
func TestAppendADTS(t *testing.T) {
	b, err := aac.AppendADTS(nil, aac.Config{ObjectType: aac.ObjectTypeAACLC, SampleRate: 48000, Channels: 2}, make([]byte, 100))
	require.NoError(t, err)
	require.Len(t, b, 107)
	require.Equal(t, []byte{0xff, 0xf1}, b[:2])
	require.Equal(t, 3, int(b[2]>>2&15), "48 kHz is index 3")
	require.Equal(t, 2, int(b[2]&1)<<2|int(b[3]>>6), "channels")
	require.Equal(t, 107, int(b[3]&3)<<11|int(b[4])<<3|int(b[5]>>5), "frame length")
	for _, c := range []aac.Config{{ObjectType: 2, SampleRate: 12345, Channels: 1}, {ObjectType: 5, SampleRate: 48000, Channels: 1},
		{ObjectType: 2, SampleRate: 48000, Channels: 0}} {
		_, err := aac.AppendADTS(nil, c, []byte{1})
		require.Error(t, err, "%+v", c)
	}
	_, err = aac.AppendADTS(nil, aac.Config{ObjectType: 2, SampleRate: 48000, Channels: 1}, make([]byte, 9000))
	require.Error(t, err)
}
