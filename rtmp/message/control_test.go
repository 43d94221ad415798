package message

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUserControl(t *testing.T) {
	for _, c := range []struct {
		m    UserControl
		wire []byte
	}{
		{UserControl{Event: EventStreamBegin, Data: 1}, []byte{0, 0, 0, 0, 0, 1}},
		{UserControl{Event: EventPingRequest, Data: 0x01020304}, []byte{0, 6, 1, 2, 3, 4}},
		{UserControl{Event: EventSetBufferLength, Data: 1, BufferLength: 3000}, []byte{0, 3, 0, 0, 0, 1, 0, 0, 0x0b, 0xb8}},
	} {
		var b [10]byte
		require.Equal(t, c.wire, c.m.Marshal(&b))
		var got UserControl
		require.NoError(t, got.Unmarshal(c.wire))
		require.Equal(t, c.m, got)
	}
	var u UserControl
	require.ErrorIs(t, u.Unmarshal([]byte{0, 3, 0, 0, 0, 1}), ErrShort)
	require.ErrorIs(t, u.Unmarshal([]byte{0}), ErrShort)
}

func TestSetPeerBandwidth(t *testing.T) {
	var b [5]byte
	wire := SetPeerBandwidth{Size: 5000000, LimitType: LimitDynamic}.Marshal(&b)
	require.Equal(t, []byte{0x00, 0x4c, 0x4b, 0x40, 2}, wire)
	var m SetPeerBandwidth
	require.NoError(t, m.Unmarshal(wire))
	require.Equal(t, SetPeerBandwidth{5000000, 2}, m)
	require.ErrorIs(t, m.Unmarshal(wire[:4]), ErrShort)
	_, err := ParseUint32([]byte{1}, "Acknowledgement")
	require.ErrorIs(t, err, ErrShort)
}
