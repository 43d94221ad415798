package rtpdtmf

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"
)

func pkt(ts uint32, payload ...byte) *rtp.Packet {
	return &rtp.Packet{Header: rtp.Header{Version: 2, Timestamp: ts}, Payload: payload}
}

func decode(d *Decoder, pkts ...*rtp.Packet) []Event {
	var out []Event
	for _, p := range pkts {
		ev, n, err := d.Decode(p)
		if err == nil {
			out = append(out, ev[:n]...)
		}
	}
	return out
}

// A '5' held for 800 samples (100 ms at 8 kHz), sent as RFC 4733 §2.5.1.1 describes:
// updates every 160 samples, then the end packet three times.
func TestKeyPress(t *testing.T) {
	d := &Decoder{}
	got := decode(d,
		pkt(1000, 5, 10, 0x00, 0xa0), // event 5, volume 10, duration 160
		pkt(1000, 5, 10, 0x01, 0x40),
		pkt(1000, 5, 10, 0x01, 0x40),   // retransmitted update
		pkt(1000, 5, 0x8a, 0x03, 0x20), // E bit, duration 800
		pkt(1000, 5, 0x8a, 0x03, 0x20),
		pkt(1000, 5, 0x8a, 0x03, 0x20),
	)
	require.Equal(t, []Event{
		{Code: 5, Timestamp: 1000, Volume: 10},
		{Code: 5, Timestamp: 1000, Volume: 10, End: true, Duration: 800},
	}, got)
	require.Equal(t, byte('5'), got[0].Digit())
}

func TestLostBeginStillBegins(t *testing.T) {
	d := &Decoder{}
	got := decode(d, pkt(2000, 11, 0x80, 0x03, 0x20))
	require.Len(t, got, 2)
	require.False(t, got[0].End)
	require.True(t, got[1].End)
	require.Equal(t, byte('#'), got[0].Digit())
}

func TestTwoDigits(t *testing.T) {
	d := &Decoder{}
	got := decode(d, pkt(0, 1, 0, 0, 160), pkt(0, 1, 0x80, 1, 0), pkt(1600, 2, 0, 0, 160), pkt(1600, 2, 0x80, 1, 0))
	require.Len(t, got, 4)
	require.Equal(t, []byte{'1', '1', '2', '2'}, []byte{got[0].Digit(), got[1].Digit(), got[2].Digit(), got[3].Digit()})
}

func TestMalformed(t *testing.T) {
	_, _, err := (&Decoder{}).Decode(pkt(0, 1, 2))
	require.ErrorIs(t, err, ErrMalformed)
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{5, 10, 0, 160, 5, 0x8a, 3, 0x20})
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		d := &Decoder{}
		ends := 0
		for i := 0; i+4 <= len(b); i += 4 {
			ev, n, err := d.Decode(pkt(uint32(i/8), b[i:i+4]...))
			require.NoError(t, err)
			require.LessOrEqual(t, n, 2)
			for _, e := range ev[:n] {
				if e.End {
					ends++
				}
			}
		}
		require.Equal(t, in, b)
	})
}
