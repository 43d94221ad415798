package media_test

import (
	"encoding/binary"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/media"
)

// receiveModes runs a session test with the session's own goroutines and on a Poller.
func receiveModes(t *testing.T, test func(t *testing.T, opts ...media.SessionOption)) {
	t.Run("own goroutines", func(t *testing.T) { test(t) })
	t.Run("poller", func(t *testing.T) {
		if !media.PollSupported() {
			t.Skip("batched polling is not supported on " + runtime.GOOS + "/" + runtime.GOARCH)
		}
		p := media.NewPoller(media.PollerConfig{Interval: 10 * time.Millisecond})
		t.Cleanup(func() { require.NoError(t, p.Close()) })
		test(t, media.WithPoller(p))
	})
}

// Sessions on a poller: the clip's packets in, its frames out, counters kept, and
// Close (of sessions, then of the poller, twice) joins everything.
func TestPollerDeliversFrames(t *testing.T) {
	if !media.PollSupported() {
		t.Skip("batched polling is not supported here")
	}
	peer.CheckNoLeaks(t)
	var rounds atomic.Uint64
	p := media.NewPoller(media.PollerConfig{Interval: 5 * time.Millisecond, AfterTick: func() { rounds.Add(1) }})
	pkts := clipPackets(t)
	const n = 3
	var sessions [n]*media.Session
	var frames [n]atomic.Int64
	for i := range sessions {
		s, err := media.NewSession(media.WithLocalIP(net.IPv4(127, 0, 0, 1)), media.WithPoller(p),
			media.WithFrames(func(*media.Frame) { frames[i].Add(1) }))
		require.NoError(t, err)
		require.NoError(t, s.AddTrack(media.TrackConfig{PayloadType: 96, Encoding: media.EncodingH264, ClockRate: 90000}))
		s.Start()
		sessions[i] = s
	}
	require.Equal(t, n, p.Stats().Sessions)
	for i, s := range sessions {
		sendPaced(t, s, pkts)
		require.Eventually(t, func() bool { return frames[i].Load() == 100 }, 10*time.Second, 5*time.Millisecond,
			"session %d: the clip's 100 frames", i)
		require.EqualValues(t, len(pkts), s.Stats().Packets)
	}
	st := p.Stats()
	require.GreaterOrEqual(t, st.Packets, uint64(n*len(pkts)))
	require.Positive(t, rounds.Load(), "AfterTick runs after rounds")
	for _, s := range sessions {
		require.NoError(t, s.Close())
		require.NoError(t, s.Close())
	}
	require.Zero(t, p.Stats().Sessions, "closed sessions leave the poller")
	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "Close is idempotent")
	// A session given a closed poller receives on its own goroutines.
	s, err := media.NewSession(media.WithLocalIP(net.IPv4(127, 0, 0, 1)), media.WithPoller(p),
		media.WithFrames(func(*media.Frame) { frames[0].Add(1) }))
	require.NoError(t, err)
	require.NoError(t, s.AddTrack(media.TrackConfig{PayloadType: 96, Encoding: media.EncodingH264, ClockRate: 90000}))
	s.Start()
	frames[0].Store(0)
	sendPaced(t, s, pkts)
	require.Eventually(t, func() bool { return frames[0].Load() == 100 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, s.Close())
}

// A poller that never got a session has no goroutine to join; Close still works.
func TestPollerCloseUnused(t *testing.T) {
	peer.CheckNoLeaks(t)
	require.NoError(t, media.NewPoller(media.PollerConfig{}).Close())
}

// sendPaced sends packets to a session's RTP port in bursts no larger than a socket
// buffer holds, each after the session has counted the previous one.
func sendPaced(t *testing.T, s *media.Session, pkts [][]byte) {
	t.Helper()
	port, _ := s.LocalPorts()
	out, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	require.NoError(t, err)
	defer out.Close()
	base := s.Stats().Packets
	const burst = 64
	for i := 0; i < len(pkts); i += burst {
		for _, p := range pkts[i:min(i+burst, len(pkts))] {
			_, err := out.Write(p)
			require.NoError(t, err)
		}
		want := base + uint64(min(i+burst, len(pkts)))
		require.Eventually(t, func() bool { return s.Stats().Packets >= want }, 10*time.Second, time.Millisecond)
	}
}

// The poller stamps each packet with the kernel's arrival time, not the time of the
// round that read it: two packets with the same RTP timestamp sent 150 ms apart, read in
// one round of a slow poller, still show as 150 ms of interarrival jitter in the Receiver
// Report (RFC 3550 A.8: J += (|D| - J)/16, so at least 150 ms / 16 = 9.4 ms, 843 units).
func TestPollerUsesKernelArrivalTimes(t *testing.T) {
	if !media.PollSupported() {
		t.Skip("batched polling is not supported here")
	}
	// Rounds 600 ms apart (the poller trusts kernel times up to 1 s old, which leaves a
	// late round 400 ms): read at round time, two packets sent 150 ms apart would seem to
	// arrive together (0) or 600 ms apart. Only the kernel's arrival times give the gap
	// the sender measured, which is what the jitter must show.
	p := media.NewPoller(media.PollerConfig{Interval: 600 * time.Millisecond})
	defer p.Close()
	sink := newRTCPSink(t)
	s, err := media.NewSession(media.WithLocalIP(net.IPv4(127, 0, 0, 1)), media.WithPoller(p), media.WithSymmetricRTP(false))
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.AddTrack(media.TrackConfig{PayloadType: 0, Encoding: media.EncodingPCMU, ClockRate: 8000}))
	s.SetRemote(sink.conn.LocalAddr().(*net.UDPAddr), sink.conn.LocalAddr().(*net.UDPAddr))
	s.Start()
	port, _ := s.LocalPorts()
	out, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	require.NoError(t, err)
	defer out.Close()
	pkt := make([]byte, 12+160)
	// A first datagram of a payload type the session does not take: once the poller has
	// read it, the socket is the poller's, with kernel receive times on.
	pkt[0], pkt[1] = 0x80, 127
	_, err = out.Write(pkt)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return p.Stats().Packets >= 1 }, 10*time.Second, time.Millisecond)
	pkt[0], pkt[1] = 0x80, 0
	binary.BigEndian.PutUint32(pkt[4:], 1000) // the same timestamp for both
	binary.BigEndian.PutUint32(pkt[8:], 99)
	_, err = out.Write(pkt)
	require.NoError(t, err)
	sent := time.Now()
	time.Sleep(150 * time.Millisecond) // the network delay under test, not synchronisation
	pkt[3] = 1
	_, err = out.Write(pkt)
	require.NoError(t, err)
	gap := time.Since(sent)
	// A report that covers the second packet.
	require.Eventually(t, func() bool { sink.mu.Lock(); defer sink.mu.Unlock(); return sink.last.LastSequenceNumber >= 1 }, 15*time.Second, 10*time.Millisecond)
	sink.mu.Lock()
	defer sink.mu.Unlock()
	// RFC 3550 A.8 after two packets: J = |D|/16, in 8 kHz units.
	seen := time.Duration(sink.last.Jitter) * 16 * time.Second / 8000
	require.InDelta(t, gap.Seconds(), seen.Seconds(), 0.05, "arrival gap from the jitter %v, sent %v apart (%+v)", seen, gap, sink.last)
}

// The poller's packet path allocates nothing in steady state: a loop of the clip,
// received, reordered, depacketized and delivered, over real sockets.
func TestPollerSteadyStateDoesNotAllocate(t *testing.T) {
	if !media.PollSupported() {
		t.Skip("batched polling is not supported here")
	}
	p := media.NewPoller(media.PollerConfig{Interval: time.Millisecond})
	defer p.Close()
	var frames atomic.Int64
	// No remote address: the Receiver Report every 5 s (which allocates in rtcp.Marshal)
	// is not part of the packet path measured here.
	s, err := media.NewSession(media.WithLocalIP(net.IPv4(127, 0, 0, 1)), media.WithPoller(p), media.WithSymmetricRTP(false),
		media.WithFrames(func(*media.Frame) { frames.Add(1) }))
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.AddTrack(media.TrackConfig{PayloadType: 96, Encoding: media.EncodingH264, ClockRate: 90000}))
	s.Start()
	pkts := clipPackets(t)
	port, _ := s.LocalPorts()
	out, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	require.NoError(t, err)
	defer out.Close()
	loop := 0
	span := clipSpan(pkts)
	run := func() {
		rebaseLoop(pkts, loop, span)
		loop++
		for i, b := range pkts {
			if _, err := out.Write(b); err != nil {
				panic(err)
			}
			if i%32 == 31 { // let the poller catch up before the socket buffer fills
				want := uint64(loop-1)*uint64(len(pkts)) + uint64(i+1)
				for s.Stats().Packets < want {
					runtime.Gosched()
				}
			}
		}
		for frames.Load() < int64(loop*100) {
			runtime.Gosched()
		}
	}
	run()
	run() // buffers have grown to the stream's size
	allocs := testing.AllocsPerRun(3, run)
	require.Zero(t, allocs, "allocations per pass over %d packets", len(pkts))
}

// clipSpan is the RTP timestamp distance from one loop of the clip to the next.
func clipSpan(pkts [][]byte) uint32 {
	first := binary.BigEndian.Uint32(pkts[0][4:])
	last := binary.BigEndian.Uint32(pkts[len(pkts)-1][4:])
	return last - first + 3000
}

// rebaseLoop numbers a loop's packets after the previous loop's, in sequence and time.
func rebaseLoop(pkts [][]byte, loop int, span uint32) {
	n := uint16(len(pkts))
	for i, b := range pkts {
		binary.BigEndian.PutUint16(b[2:], uint16(loop)*n+uint16(i))
		if loop > 0 {
			ts := binary.BigEndian.Uint32(b[4:]) + span
			binary.BigEndian.PutUint32(b[4:], ts)
		}
	}
}
