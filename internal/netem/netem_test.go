package netem_test

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/netem"
)

// The plan draws the configured shares, and the same seed draws the same plan.
func TestPlanShares(t *testing.T) {
	cfg := netem.Config{Loss: 0.03, Duplicate: 0.01, Reorder: 0.05, ReorderMin: 20 * time.Millisecond,
		ReorderMax: 40 * time.Millisecond, Jitter: 15 * time.Millisecond, Seed: 3}
	a, b := netem.NewPlan(cfg), netem.NewPlan(cfg)
	other := netem.NewPlan(netem.Config{Loss: 0.03, Seed: 4})
	const n = 100000
	var lost, dup, reord, same int
	for range n {
		d := a.Next()
		require.Equal(t, d, b.Next())
		if d.Lost == other.Next().Lost {
			same++
		}
		if d.Lost {
			lost++
		}
		if d.Duplicate {
			dup++
		}
		if d.Reordered {
			reord++
			require.GreaterOrEqual(t, d.Delay, 20*time.Millisecond)
		}
		require.LessOrEqual(t, d.Delay, 55*time.Millisecond)
	}
	require.InDelta(t, 0.03, float64(lost)/n, 0.003)
	require.InDelta(t, 0.01, float64(dup)/n, 0.002)
	require.InDelta(t, 0.05, float64(reord)/n, 0.003)
	require.Less(t, same, n-1000, "another seed, another plan")
}

// What survives reaches every destination, duplicates twice, and the log says what
// happened to each datagram, in order.
func TestRelay(t *testing.T) {
	dst := make([]*net.UDPConn, 2)
	dests := make([]netem.Dest, 2)
	for i := range dst {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		require.NoError(t, err)
		require.NoError(t, c.SetReadBuffer(1<<20))
		defer c.Close()
		dst[i], dests[i] = c, netem.Dest{RTP: c.LocalAddr().(*net.UDPAddr), RTCP: c.LocalAddr().(*net.UDPAddr)}
	}
	r, err := netem.NewRelay(netem.Config{Loss: 0.1, Duplicate: 0.05, Reorder: 0.1, ReorderMax: 5 * time.Millisecond, Seed: 9}, dests...)
	require.NoError(t, err)
	defer r.Close()
	src, err := net.DialUDP("udp", nil, r.Addr())
	require.NoError(t, err)
	defer src.Close()
	const n = 300
	bye := []byte{0x81, 203, 0, 1, 0, 0, 0, 1} // RTCP BYE: relayed whole, after the RTP
	for i := range n {
		pkt := make([]byte, 12)
		pkt[0], pkt[1], pkt[2], pkt[3] = 0x80, 96, byte(i>>8), byte(i)
		_, err := src.Write(pkt)
		require.NoError(t, err)
		if i%20 == 19 { // in steps that no socket buffer overflows
			require.Eventually(t, func() bool { return r.Stats().In == i+1 }, 10*time.Second, time.Millisecond)
		}
	}
	_, err = src.Write(bye)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return r.Stats().RTCP == 1 }, 10*time.Second, time.Millisecond)
	r.Flush()
	st := r.Stats()
	require.Equal(t, n-st.Lost+st.Duplicated, st.Out)
	require.Positive(t, st.Lost)
	require.Positive(t, st.Duplicated)
	log := r.Log()
	require.Len(t, log, n)
	want := map[uint16]int{}
	for i, rec := range log {
		require.Equal(t, uint16(i), rec.Seq)
		if !rec.Lost {
			want[rec.Seq]++
			if rec.Duplicate {
				want[rec.Seq]++
			}
		}
	}
	for _, c := range dst {
		got := map[uint16]int{}
		buf := make([]byte, 64)
		for range st.Out {
			require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
			k, err := c.Read(buf)
			require.NoError(t, err)
			require.Equal(t, 12, k)
			got[uint16(buf[2])<<8|uint16(buf[3])]++
		}
		require.Equal(t, want, got)
		k, err := c.Read(buf)
		require.NoError(t, err)
		require.Equal(t, bye, buf[:k], "the BYE comes last")
	}
	// A receiver's feedback goes back to the sender.
	pli := []byte{0x81, 206, 0, 2, 0, 0, 0, 9, 0, 0, 0, 1}
	_, err = dst[0].WriteToUDP(pli, r.Addr())
	require.NoError(t, err)
	require.NoError(t, src.SetReadDeadline(time.Now().Add(10*time.Second)))
	buf := make([]byte, 64)
	k, err := src.Read(buf)
	require.NoError(t, err)
	require.Equal(t, pli, buf[:k])
	require.Equal(t, 1, r.Stats().Back)
	require.NoError(t, r.Close())
	require.NoError(t, r.Close())
}
