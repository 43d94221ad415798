package pcapgen_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/pcapgen"
)

// A loop of two 8 kHz packets 20 ms apart, looped for 1.1 s: 56 RTP packets to port
// 30000 with sequence numbers and timestamps running on across loops, two Sender
// Reports to port 30001 (at 0 and 1 s), each record an Ethernet/IPv4/UDP frame of the
// right lengths, at its capture time.
func TestWriteLooped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.pcap")
	pkt := func(marker byte) []byte { b := make([]byte, 12+160); b[0], b[1] = 0x80, marker; return b }
	l := pcapgen.Loop{Packets: []pcapgen.Packet{{At: 0, TS: 0, Data: pkt(0)}, {At: 20 * time.Millisecond, TS: 160, Data: pkt(0)}},
		Length: 40 * time.Millisecond, ClockRate: 8000}
	require.NoError(t, pcapgen.WriteLooped(path, l, 0x1234, 1100*time.Millisecond))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, uint32(0xa1b2c3d4), binary.LittleEndian.Uint32(b))
	require.Equal(t, uint32(1), binary.LittleEndian.Uint32(b[20:]), "Ethernet")
	var rtp, sr int
	var lastSeq uint16
	var lastTS uint32
	for off := 24; off < len(b); {
		at := time.Duration(binary.LittleEndian.Uint32(b[off:]))*time.Second + time.Duration(binary.LittleEndian.Uint32(b[off+4:]))*time.Microsecond
		n := int(binary.LittleEndian.Uint32(b[off+8:]))
		frame := b[off+16 : off+16+n]
		off += 16 + n
		require.Equal(t, []byte{0x08, 0x00}, frame[12:14])
		udp := frame[34:]
		require.Equal(t, n-34, int(binary.BigEndian.Uint16(udp[4:])), "UDP length")
		payload := udp[8:]
		switch binary.BigEndian.Uint16(udp[2:]) {
		case 30000:
			seq, ts := binary.BigEndian.Uint16(payload[2:]), binary.BigEndian.Uint32(payload[4:])
			if rtp > 0 {
				require.Equal(t, lastSeq+1, seq)
				require.Equal(t, lastTS+160, ts, "timestamps run on")
			}
			require.Equal(t, uint32(0x1234), binary.BigEndian.Uint32(payload[8:]))
			require.Equal(t, time.Duration(rtp)*20*time.Millisecond, at)
			lastSeq, lastTS = seq, ts
			rtp++
		case 30001:
			require.Equal(t, byte(200), payload[1], "a Sender Report")
			require.Equal(t, time.Duration(sr)*time.Second, at)
			sr++
		default:
			t.Fatalf("port %d", binary.BigEndian.Uint16(udp[2:]))
		}
	}
	require.Equal(t, 56, rtp)
	require.Equal(t, 2, sr)
}
