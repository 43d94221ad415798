package media_test

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/media"
)

// The hostile-peer suite for media: a session latched on its peer drops RTP and RTCP from
// any other source (another port on the peer's host, or another host), over loopback.
func TestHostileMediaForeignSources(t *testing.T) {
	receiveModes(t, testHostileMediaForeignSources)
}

func udpOn(t *testing.T, ip net.IP) *net.UDPConn {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func testHostileMediaForeignSources(t *testing.T, opts ...media.SessionOption) {
	apps := make(chan media.AppPacket, 16)
	s, err := media.NewSession(append(opts, media.WithLocalIP(net.IPv4(127, 0, 0, 1)),
		media.WithRTCPApp(func(a media.AppPacket) { apps <- a }))...)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.AddTrack(media.TrackConfig{PayloadType: 96, Encoding: media.EncodingH264, ClockRate: 90000}))
	lo := net.IPv4(127, 0, 0, 1)
	peerRTP, peerRTCP := udpOn(t, lo), udpOn(t, lo)
	s.SetRemote(peerRTP.LocalAddr().(*net.UDPAddr), peerRTCP.LocalAddr().(*net.UDPAddr))
	s.Start()
	rtpPort, rtcpPort := s.LocalPorts()
	toRTP := &net.UDPAddr{IP: lo, Port: rtpPort}
	toRTCP := &net.UDPAddr{IP: lo, Port: rtcpPort}
	send := func(c *net.UDPConn, to *net.UDPAddr, b []byte) {
		t.Helper()
		_, err := c.WriteToUDP(b, to)
		require.NoError(t, err)
	}
	app := func(url string) []byte {
		b, err := (&rtcp.ApplicationDefined{SubType: 1, SSRC: 7, Name: "CISC", Data: []byte(url + "\x00")}).Marshal()
		require.NoError(t, err)
		return b
	}
	otherHost := udpOn(t, net.IPv4(127, 0, 0, 2))
	samePort := udpOn(t, lo) // the peer's host, another port

	// Before any RTP: RTCP APP from another host than the SDP's is dropped.
	send(otherHost, toRTCP, app("rtmp://evil/live/before"))

	pkts := clipPackets(t)
	for _, p := range pkts[:10] {
		send(peerRTP, toRTP, p)
	}
	require.Eventually(t, func() bool { return s.Stats().Packets == 10 }, 5*time.Second, time.Millisecond)

	// RTP from the peer's host on another port, and from another host, with another
	// SSRC: dropped, counted, and the genuine stream goes on.
	for _, c := range []*net.UDPConn{samePort, otherHost} {
		for _, p := range pkts[10:20] {
			forged := append([]byte(nil), p...)
			binary.BigEndian.PutUint32(forged[8:], 0xbad)
			send(c, toRTP, forged)
		}
	}
	send(peerRTP, toRTP, pkts[10])
	require.Eventually(t, func() bool { return s.Stats().Packets == 11 }, 5*time.Second, time.Millisecond)

	// RTCP: the peer's first report latches its RTCP source; an APP from elsewhere is
	// dropped, the peer's own is delivered (and is the first to be).
	sr, err := (&rtcp.SenderReport{SSRC: binary.BigEndian.Uint32(pkts[0][8:]), NTPTime: 0xe000000000000000, RTPTime: 1}).Marshal()
	require.NoError(t, err)
	send(peerRTCP, toRTCP, sr)
	send(samePort, toRTCP, app("rtmp://evil/live/same-host"))
	send(otherHost, toRTCP, app("rtmp://evil/live/other-host"))
	send(samePort, toRTP, app("rtmp://evil/live/on-the-rtp-port"))
	send(peerRTCP, toRTCP, app("rtmp://h/live/genuine"))
	select {
	case a := <-apps:
		require.Equal(t, "rtmp://h/live/genuine\x00", string(a.Data), "a foreign APP packet was delivered")
	case <-time.After(5 * time.Second):
		t.Fatal("the peer's APP packet was not delivered")
	}
	require.Eventually(t, func() bool { return s.Stats().Foreign == 24 }, 5*time.Second, time.Millisecond,
		"foreign packets: %+v", s.Stats())
	require.EqualValues(t, 11, s.Stats().Packets)
}
