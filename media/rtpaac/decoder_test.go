package rtpaac

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"
)

var hbr = Config{SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}

func pkt(ts uint32, marker bool, payload ...byte) *rtp.Packet {
	return &rtp.Packet{Header: rtp.Header{Version: 2, Timestamp: ts, Marker: marker}, Payload: payload}
}

func TestParseFMTP(t *testing.T) {
	// As ffmpeg writes it with -sdp_file.
	c, err := ParseFMTP("profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; config=119056E500")
	require.NoError(t, err)
	require.Equal(t, Config{13, 3, 3, []byte{0x11, 0x90, 0x56, 0xe5, 0x00}, "AAC-hbr"}, c)
	_, err = ParseFMTP("mode=AAC-hbr")
	require.Error(t, err)
	_, err = ParseFMTP("sizelength=13;config=zz")
	require.Error(t, err)
}

var cases = []struct {
	name    string
	cfg     Config
	packets []*rtp.Packet
	aus     [][]byte
	tss     []uint32
}{
	{"hbr, one AU", hbr, []*rtp.Packet{pkt(1000, true,
		0x00, 0x10, // AU-headers-length: 16 bits
		0x00, 0x18, // AU-size 3, AU-Index 0
		0xa1, 0xa2, 0xa3)},
		[][]byte{{0xa1, 0xa2, 0xa3}}, []uint32{1000}},
	{"hbr, two AUs", hbr, []*rtp.Packet{pkt(1000, true,
		0x00, 0x20, // 32 bits
		0x00, 0x10, // size 2, index 0
		0x00, 0x08, // size 1, index delta 0
		0xb1, 0xb2, 0xc1)},
		[][]byte{{0xb1, 0xb2}, {0xc1}}, []uint32{1000, 2024}},
	{"lbr, two AUs", Config{SizeLength: 6, IndexLength: 2, IndexDeltaLength: 2}, []*rtp.Packet{pkt(0, true,
		0x00, 0x10, // 16 bits: two 8-bit headers
		0x08, // size 2, index 0
		0x04, // size 1, delta 0
		0xd1, 0xd2, 0xe1)},
		[][]byte{{0xd1, 0xd2}, {0xe1}}, []uint32{0, 1024}},
	{"fragmented AU over three packets", hbr, []*rtp.Packet{
		pkt(5000, false, 0x00, 0x10, 0x00, 0x28, 1, 2), // size 5, 2 bytes here
		pkt(5000, false, 0x00, 0x10, 0x00, 0x28, 3, 4),
		pkt(5000, true, 0x00, 0x10, 0x00, 0x28, 5)},
		[][]byte{{1, 2, 3, 4, 5}}, []uint32{5000}},
}

func TestDecode(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := &Decoder{Config: c.cfg}
			var aus [][]byte
			var tss []uint32
			for _, p := range c.packets {
				in := bytes.Clone(p.Payload)
				a, ts, err := d.Decode(p)
				require.Equal(t, in, p.Payload)
				if err == ErrMorePacketsNeeded {
					continue
				}
				require.NoError(t, err)
				for i := range a {
					aus = append(aus, bytes.Clone(a[i]))
				}
				tss = append(tss, ts...)
			}
			require.Equal(t, c.aus, aus)
			require.Equal(t, c.tss, tss)
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	d := &Decoder{Config: hbr}
	_, _, err := d.Decode(pkt(0, true, 0x00))
	require.ErrorIs(t, err, ErrMalformed)
	_, _, err = d.Decode(pkt(0, true, 0xff, 0xff, 0))
	require.ErrorIs(t, err, ErrMalformed)
	_, _, err = d.Decode(pkt(0, true, 0x00, 0x20, 0x00, 0x10, 0x00, 0x10, 1)) // sizes 2+2, 1 byte
	require.ErrorIs(t, err, ErrMalformed)
	// A fragment series whose marker arrives early.
	_, _, err = d.Decode(pkt(0, false, 0x00, 0x10, 0x00, 0x28, 1, 2))
	require.ErrorIs(t, err, ErrMorePacketsNeeded)
	_, _, err = d.Decode(pkt(0, true, 0x00, 0x10, 0x00, 0x28, 3))
	require.ErrorIs(t, err, ErrFragmentLost)
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	d := &Decoder{Config: hbr}
	p := cases[1].packets[0]
	_, _, _ = d.Decode(p)
	require.Zero(t, testing.AllocsPerRun(100, func() { _, _, _ = d.Decode(p) }))
}

func FuzzDecode(f *testing.F) {
	for _, c := range cases {
		for _, p := range c.packets {
			f.Add(p.Payload, c.cfg.SizeLength == 6)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, lbr bool) {
		cfg := hbr
		if lbr {
			cfg = Config{SizeLength: 6, IndexLength: 2, IndexDeltaLength: 2}
		}
		d := &Decoder{Config: cfg}
		in := bytes.Clone(b)
		for i := 0; i < 3; i++ {
			aus, tss, err := d.Decode(pkt(0, i == 2, b...))
			if err == nil {
				require.Equal(t, len(aus), len(tss))
				for _, au := range aus {
					require.LessOrEqual(t, len(au), MaxAccessUnitSize)
				}
			}
		}
		require.Equal(t, in, b)
	})
}
