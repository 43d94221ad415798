package rtplatm

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"
)

// ffmpegConfig is the config ffmpeg 5.1 writes for AAC-LC 48 kHz stereo with
// -rtpflags latm: audioMuxVersion 0, one subframe, one program and layer, ASC 0x1190,
// frameLengthType 0, latmBufferFullness 0xff, no other data, no CRC.
const ffmpegFMTP = "profile-level-id=41;cpresent=0;config=400023203fc0"

func pkt(ts uint32, marker bool, payload ...byte) *rtp.Packet {
	return &rtp.Packet{Header: rtp.Header{Version: 2, Timestamp: ts, Marker: marker}, Payload: payload}
}

func TestParseFMTP(t *testing.T) {
	c, err := ParseFMTP(ffmpegFMTP)
	require.NoError(t, err)
	require.False(t, c.CPresent)
	require.Equal(t, StreamMuxConfig{NumSubFrames: 1, AudioSpecificConfig: []byte{0x11, 0x90}}, c.StreamMuxConfig)
	c, err = ParseFMTP("profile-level-id=1")
	require.NoError(t, err)
	require.True(t, c.CPresent, "cpresent defaults to 1")
	_, err = ParseFMTP("cpresent=0")
	require.Error(t, err)
	_, err = ParseFMTP("cpresent=0;config=40")
	require.Error(t, err)
}

func TestDecodeOutOfBand(t *testing.T) {
	c, _ := ParseFMTP(ffmpegFMTP)
	d := &Decoder{Config: c}
	// PayloadLengthInfo 255+3 = 258 bytes, then the payload.
	au := bytes.Repeat([]byte{0x21}, 258)
	payload := append([]byte{0xff, 0x03}, au...)
	// Fragmented over two packets; the marker ends the element.
	_, _, err := d.Decode(pkt(100, false, payload[:100]...))
	require.ErrorIs(t, err, ErrMorePacketsNeeded)
	aus, ts, err := d.Decode(pkt(100, true, payload[100:]...))
	require.NoError(t, err)
	require.Equal(t, uint32(100), ts)
	require.Equal(t, [][]byte{au}, aus)
}

// In-band configuration (cpresent=1): useSameStreamMux=0, the StreamMuxConfig, and a
// payload that is therefore not byte-aligned.
func TestDecodeInBand(t *testing.T) {
	cfg := []byte{0x40, 0x00, 0x23, 0x20, 0x3f, 0xc0} // 44 bits used: 15 + ASC 16 + 3 + 8 + 1 + 1
	const cfgBits = 44
	au := []byte{0xde, 0xad, 0xbe, 0xef}
	var bits []byte // one byte per bit, then packed
	push := func(v uint32, n int) {
		for i := n - 1; i >= 0; i-- {
			bits = append(bits, byte(v>>uint(i))&1)
		}
	}
	push(0, 1) // useSameStreamMux = 0
	for i := 0; i < cfgBits; i++ {
		push(uint32(cfg[i/8]>>(7-uint(i%8))&1), 1)
	}
	push(uint32(len(au)), 8)
	for _, b := range au {
		push(uint32(b), 8)
	}
	packed := make([]byte, (len(bits)+7)/8)
	for i, b := range bits {
		packed[i/8] |= b << (7 - uint(i%8))
	}
	d := &Decoder{Config: Config{CPresent: true}}
	aus, _, err := d.Decode(pkt(0, true, packed...))
	require.NoError(t, err)
	require.Equal(t, [][]byte{au}, aus)
	require.True(t, d.ConfigChanged)
	require.Equal(t, []byte{0x11, 0x90}, d.AudioSpecificConfig())

	// useSameStreamMux = 1 before any config is an error, not a panic.
	d = &Decoder{Config: Config{CPresent: true}}
	_, _, err = d.Decode(pkt(0, true, 0x80, 0x04))
	require.ErrorIs(t, err, ErrNoConfig)
}

func TestDecodeErrors(t *testing.T) {
	c, _ := ParseFMTP(ffmpegFMTP)
	d := &Decoder{Config: c}
	_, _, err := d.Decode(pkt(0, true, 0x09, 1, 2)) // says 9 bytes, has 2
	require.ErrorIs(t, err, ErrMalformed)
	_, _, err = d.Decode(pkt(0, true, 0xff, 0xff))
	require.ErrorIs(t, err, ErrMalformed)
	_, err = ParseStreamMuxConfig([]byte{0x40, 0x3f}) // two programs... truncated
	require.Error(t, err)
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{0xff, 0x03, 1, 2, 3}, false)
	f.Add([]byte{0x20, 0x00, 0x11, 0x90, 0x1f, 0xe0, 0x02, 0xaa, 0xbb}, true)
	f.Fuzz(func(t *testing.T, b []byte, cpresent bool) {
		in := bytes.Clone(b)
		c, _ := ParseFMTP(ffmpegFMTP)
		c.CPresent = cpresent
		d := &Decoder{Config: c}
		aus, _, err := d.Decode(pkt(0, true, b...))
		if err == nil {
			total := 0
			for _, au := range aus {
				total += len(au)
			}
			require.LessOrEqual(t, total, len(b))
		}
		require.Equal(t, in, b)
	})
}

func FuzzStreamMuxConfig(f *testing.F) {
	f.Add([]byte{0x40, 0x00, 0x23, 0x20, 0x3f, 0xc0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseStreamMuxConfig(b)
		if err == nil {
			require.LessOrEqual(t, len(c.AudioSpecificConfig), len(b))
			require.GreaterOrEqual(t, c.NumSubFrames, 1)
		}
	})
}
