package h264

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// spsVectors: SPS NAL units with the picture size an independent decoder reports for them.
var spsVectors = []struct {
	name          string
	sps           []byte
	width, height int
	profile       uint8
}{
	// libx264 Main 1280x720 (from testdata/av720p.flv; ffprobe: 1280x720), cropping 8 rows.
	{"x264 main 720p", []byte{0x67, 0x4d, 0x40, 0x1f, 0xec, 0xa0, 0x28, 0x02, 0xdd, 0x80, 0xb5, 0x01, 0x01, 0x01, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x0c, 0x83, 0xc6, 0x0c, 0x65, 0x80}, 1280, 720, 77},
}

func TestParseSPS(t *testing.T) {
	for _, v := range spsVectors {
		t.Run(v.name, func(t *testing.T) {
			s, err := ParseSPS(v.sps)
			require.NoError(t, err)
			require.Equal(t, v.width, s.Width)
			require.Equal(t, v.height, s.Height)
			require.Equal(t, v.profile, s.ProfileIdc)
		})
	}
	_, err := ParseSPS([]byte{0x68, 1})
	require.ErrorIs(t, err, ErrNotSPS)
	_, err = ParseSPS([]byte{0x67, 0x4d, 0x40})
	require.Error(t, err)
}

func TestAVCConfigRoundTrip(t *testing.T) {
	sps, pps := spsVectors[0].sps, []byte{0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0}
	c, err := NewAVCConfig(sps, pps)
	require.NoError(t, err)
	b, err := c.Marshal(nil)
	require.NoError(t, err)
	require.Len(t, b, c.MarshalSize())
	var got AVCConfig
	require.NoError(t, got.Unmarshal(b))
	require.Equal(t, c, got)
	require.ErrorIs(t, got.Unmarshal(b[:len(b)-1]), ErrConfigTruncated)
}

func TestAVCC(t *testing.T) {
	au := AppendAVCC(AppendAVCC(AppendAVCC(nil, []byte{0x67, 1}), []byte{0x68, 2}), []byte{0x01, 3}) // SPS, PPS, non-ref slice
	sps, pps := ParamSets(au)
	require.Equal(t, []byte{0x67, 1}, sps)
	require.Equal(t, []byte{0x68, 2}, pps)
	require.True(t, IsNonReference(au))
	require.False(t, IsNonReference(AppendAVCC(nil, []byte{0x41, 3})), "nal_ref_idc 2")
	require.False(t, IsNonReference([]byte{0, 0, 0, 9, 1}), "truncated")
	_, _, err := NextAVCC([]byte{0, 0, 0, 5, 1})
	require.ErrorIs(t, err, ErrAVCCTruncated)
}

func FuzzParseSPS(f *testing.F) {
	for _, v := range spsVectors {
		f.Add(v.sps)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		s, err := ParseSPS(b)
		require.Equal(t, in, b)
		if err == nil {
			require.Positive(t, s.Width)
			require.Positive(t, s.Height)
		}
	})
}

func FuzzAVCConfig(f *testing.F) {
	c, _ := NewAVCConfig(spsVectors[0].sps, []byte{0x68, 0xeb})
	b, _ := c.Marshal(nil)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var c AVCConfig
		if c.Unmarshal(b) != nil {
			return
		}
		out, err := c.Marshal(nil)
		if err != nil {
			return
		}
		var again AVCConfig
		require.NoError(t, again.Unmarshal(out))
		require.Equal(t, len(c.SPS), len(again.SPS))
	})
}
