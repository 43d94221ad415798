package rtph264

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/media/h264"
)

func pkt(ts uint32, marker bool, payload ...byte) *rtp.Packet {
	return &rtp.Packet{Header: rtp.Header{Version: 2, Timestamp: ts, Marker: marker}, Payload: payload}
}

func avcc(nalus ...[]byte) []byte {
	var b []byte
	for _, n := range nalus {
		b = h264.AppendAVCC(b, n)
	}
	return b
}

var (
	sps = []byte{0x67, 0x42, 0xc0, 0x1f}
	pps = []byte{0x68, 0xce, 0x3c, 0x80}
	idr = []byte{0x65, 0x88, 0x84, 0x00, 0x33}
	ps  = []byte{0x41, 0x9a, 0x21}
)

// cases are RFC 6184 payloads, annotated, with the access units they must yield.
var cases = []struct {
	name    string
	packets []*rtp.Packet
	want    []AccessUnit
}{
	{
		"single NAL unit packets (mode 0)",
		[]*rtp.Packet{pkt(90000, true, ps...)},
		[]AccessUnit{{avcc(ps), 90000, false, false}},
	},
	{
		"STAP-A with SPS and PPS, then an IDR",
		[]*rtp.Packet{
			pkt(0, false, 0x78, // STAP-A, nri 3
				0x00, 0x04, 0x67, 0x42, 0xc0, 0x1f, // SPS
				0x00, 0x04, 0x68, 0xce, 0x3c, 0x80), // PPS
			pkt(0, true, idr...),
		},
		[]AccessUnit{{avcc(sps, pps, idr), 0, true, false}},
	},
	{
		"FU-A fragments of an IDR",
		[]*rtp.Packet{
			pkt(3000, false, 0x7c, 0x85, 0x88, 0x84), // FU indicator nri 3 type 28; start, type 5
			pkt(3000, false, 0x7c, 0x05, 0x00),       // middle
			pkt(3000, true, 0x7c, 0x45, 0x33),        // end
		},
		[]AccessUnit{{avcc(idr), 3000, true, false}},
	},
	{
		"lost marker: a new timestamp completes the previous unit",
		[]*rtp.Packet{pkt(0, false, ps...), pkt(3000, false, ps...), pkt(3000, true, ps...)},
		[]AccessUnit{{avcc(ps), 0, false, false}, {avcc(ps, ps), 3000, false, false}},
	},
	{
		"FU-A without start is dropped, the next unit decodes",
		[]*rtp.Packet{pkt(0, true, 0x7c, 0x45, 0x33), pkt(3000, true, ps...)},
		[]AccessUnit{{avcc(ps), 3000, false, false}},
	},
}

func decodeAll(d *Decoder, packets []*rtp.Packet) []AccessUnit {
	var out []AccessUnit
	for _, p := range packets {
		au, err := d.Decode(p)
		if err == nil {
			au.Data = bytes.Clone(au.Data)
			out = append(out, au)
		}
	}
	return out
}

func TestDecode(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var clones [][]byte
			for _, p := range c.packets {
				clones = append(clones, bytes.Clone(p.Payload))
			}
			require.Equal(t, c.want, decodeAll(&Decoder{}, c.packets))
			for i, p := range c.packets {
				require.Equal(t, clones[i], p.Payload, "payload %d mutated", i)
			}
		})
	}
}

func TestRejects(t *testing.T) {
	d := &Decoder{}
	for _, typ := range []byte{25, 26, 27, 29} {
		_, err := d.Decode(pkt(0, false, typ, 0, 0, 0))
		require.ErrorIs(t, err, ErrUnsupported)
	}
	require.EqualValues(t, 4, d.Rejected)
	_, err := d.Decode(pkt(0, true, 0x78, 0x00, 0x09, 0x67))
	require.Error(t, err, "STAP-A size past the end")

	d = &Decoder{MaxAccessUnitSize: 100}
	_, err = d.Decode(pkt(0, true, append([]byte{0x41}, make([]byte, 200)...)...))
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestLostDropsPartialUnit(t *testing.T) {
	d := &Decoder{}
	_, err := d.Decode(pkt(0, false, 0x7c, 0x85, 0x88))
	require.ErrorIs(t, err, ErrMorePacketsNeeded)
	d.Lost()
	au, err := d.Decode(pkt(3000, true, ps...))
	require.NoError(t, err)
	require.Equal(t, avcc(ps), au.Data)
	require.True(t, au.Damaged, "its head may have been lost")
}

// Losses cost only the NAL units they hit: an access unit of SPS, PPS and three slices
// (the second fragmented) that loses a fragment of the second slice comes out with the
// other four complete, marked Damaged and still a keyframe; one that loses every IDR
// slice is not a keyframe any more; an intact one after it is not marked.
func TestLossKeepsCompleteNALUnits(t *testing.T) {
	slice := func(b byte) []byte { return []byte{0x65, 0x88, b, b, b} }
	d := &Decoder{}
	var got []AccessUnit
	feed := func(p *rtp.Packet) {
		if au, err := d.Decode(p); err == nil {
			au.Data = bytes.Clone(au.Data)
			got = append(got, au)
		}
	}
	feed(pkt(0, false, sps...))
	feed(pkt(0, false, pps...))
	feed(pkt(0, false, slice(1)...))
	feed(pkt(0, false, 0x7c, 0x85, 0x88, 2)) // FU-A start of slice 2
	d.Lost()                                 // its middle fragment
	feed(pkt(0, false, 0x7c, 0x45, 2))       // its end
	feed(pkt(0, true, slice(3)...))
	require.Len(t, got, 1)
	require.Equal(t, avcc(sps, pps, slice(1), slice(3)), got[0].Data, "complete NAL units only")
	require.True(t, got[0].Keyframe)
	require.True(t, got[0].Damaged)

	feed(pkt(3000, false, 0x7c, 0x85, 0x88, 4)) // an IDR in fragments...
	d.Lost()                                    // ...whose end is lost
	feed(pkt(3000, true, ps...))                // a P slice completes the unit
	require.Len(t, got, 2)
	require.Equal(t, avcc(ps), got[1].Data)
	require.False(t, got[1].Keyframe, "no IDR slice left")
	require.True(t, got[1].Damaged)

	feed(pkt(6000, true, ps...))
	require.Len(t, got, 3)
	require.False(t, got[2].Damaged)
}

// Flush gives out the unit in progress when the stream ends before its marker (its
// complete NAL units, marked Damaged; a fragment without its end left out), and nothing
// when no unit is in progress.
func TestFlush(t *testing.T) {
	d := &Decoder{}
	_, ok := d.Flush()
	require.False(t, ok, "nothing in progress")
	_, err := d.Decode(pkt(0, true, ps...))
	require.NoError(t, err)
	_, ok = d.Flush()
	require.False(t, ok, "the unit completed with its marker")

	_, err = d.Decode(pkt(3000, false, idr...))
	require.ErrorIs(t, err, ErrMorePacketsNeeded)
	_, err = d.Decode(pkt(3000, false, 0x7c, 0x85, 0x88, 4)) // a second slice's first fragment
	require.ErrorIs(t, err, ErrMorePacketsNeeded)
	au, ok := d.Flush()
	require.True(t, ok)
	require.Equal(t, AccessUnit{Data: avcc(idr), Timestamp: 3000, Keyframe: true, Damaged: true}, au)
	_, ok = d.Flush()
	require.False(t, ok, "given out once")

	_, err = d.Decode(pkt(6000, false, 0x7c, 0x85, 0x88, 4)) // only a fragment
	require.ErrorIs(t, err, ErrMorePacketsNeeded)
	_, ok = d.Flush()
	require.False(t, ok, "no complete NAL unit")
	au, err = d.Decode(pkt(9000, true, ps...))
	require.NoError(t, err)
	require.False(t, au.Damaged, "the flush left nothing behind")
}

// Packets from pion's payloader (not ours) decode to the access unit that went in.
func TestPionPayloaderRoundTrip(t *testing.T) {
	big := append([]byte{0x65}, bytes.Repeat([]byte{0xab, 0xcd, 0xef}, 3000)...)
	annexB := append(append(append([]byte{0, 0, 0, 1}, sps...), append([]byte{0, 0, 0, 1}, pps...)...), append([]byte{0, 0, 0, 1}, big...)...)
	var p codecs.H264Payloader
	payloads := p.Payload(1200, annexB)
	require.Greater(t, len(payloads), 3)
	d := &Decoder{}
	var got []AccessUnit
	for i, pl := range payloads {
		au, err := d.Decode(pkt(9000, i == len(payloads)-1, pl...))
		if err == nil {
			got = append(got, au)
		}
	}
	require.Len(t, got, 1)
	require.True(t, got[0].Keyframe)
	require.Equal(t, avcc(sps, pps, big), got[0].Data)
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	d := &Decoder{}
	packets := []*rtp.Packet{
		pkt(0, false, 0x7c, 0x85, 0x88, 0x84),
		pkt(0, false, 0x7c, 0x05, 0x00),
		pkt(0, true, 0x7c, 0x45, 0x33),
	}
	decodeAll(d, packets)
	allocs := testing.AllocsPerRun(100, func() {
		for _, p := range packets {
			_, _ = d.Decode(p)
		}
	})
	require.Zero(t, allocs)
}

func FuzzDecode(f *testing.F) {
	for _, c := range cases {
		var seed []byte
		for _, p := range c.packets {
			seed = append(seed, byte(len(p.Payload)))
			seed = append(seed, p.Payload...)
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		orig, in := b, bytes.Clone(b)
		d := &Decoder{MaxAccessUnitSize: 1 << 16}
		ts := uint32(0)
		for len(b) > 0 {
			n := int(b[0])
			b = b[1:]
			if n > len(b) {
				n = len(b)
			}
			if n%7 == 0 {
				d.Lost() // a loss before this packet: what is kept must stay whole
			}
			p := pkt(ts, n%3 == 0, b[:n]...)
			au, err := d.Decode(p)
			for ok := err == nil; ok; au, ok = d.Next() {
				require.LessOrEqual(t, len(au.Data), 1<<16)
				for rest := au.Data; len(rest) > 0; {
					nalu, r, err := h264.NextAVCC(rest)
					require.NoError(t, err, "access units are well-formed AVCC")
					require.NotEmpty(t, nalu)
					rest = r
				}
			}
			if n%5 == 0 {
				ts += 3000
			}
			b = b[n:]
		}
		require.Equal(t, in, orig, "decoder must not mutate its input")
	})
}
