package sip

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// options sends a raw OPTIONS from conn and waits for the 200.
func options(t *testing.T, conn *net.UDPConn, to net.Addr, n int) {
	t.Helper()
	local := conn.LocalAddr().String()
	msg := fmt.Sprintf("OPTIONS sip:streamer@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-opt%d\r\n"+
		"From: <sip:probe@%s>;tag=p%d\r\nTo: <sip:streamer@%s>\r\nCall-ID: opt-%d@test\r\nCSeq: 1 OPTIONS\r\n"+
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", to, local, n, local, n, to, n)
	_, err := conn.WriteTo([]byte(msg), to)
	require.NoError(t, err)
	buf := make([]byte, 4096)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	for {
		k, _, err := conn.ReadFrom(buf)
		require.NoError(t, err, "the UA stopped answering OPTIONS")
		if strings.Contains(string(buf[:k]), fmt.Sprintf("opt-%d@test", n)) {
			require.True(t, strings.HasPrefix(string(buf[:k]), "SIP/2.0 200"), "%s", buf[:k])
			return
		}
	}
}

// Malformed messages in the spirit of RFC 4475 (and plain garbage) are dropped or
// answered 400; the UA never panics and keeps answering.
func TestMalformedMessages(t *testing.T) {
	u, _ := streamer(t)
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer conn.Close()
	to := u.UDPAddr()
	bad := []string{
		"",
		"\x00\x01\x02garbage",
		"INVITE\r\n\r\n",
		"INVITE sip:a@b SIP/7.0\r\n\r\n",
		"INVITE sip:a@b SIP/2.0\r\nContent-Length: 99999999\r\n\r\nv=0",
		"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK-x\r\nCSeq: nonsense\r\n\r\n",
		"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK-y\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n",
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK-nope\r\n\r\n",
		"INVITE <sip:a@b> SIP/2.0\r\n" + strings.Repeat("X-Long: "+strings.Repeat("a", 1000)+"\r\n", 40) + "\r\n",
		"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK-z\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: unknown\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
	}
	for _, m := range bad {
		_, err := conn.WriteTo([]byte(m), to)
		require.NoError(t, err)
	}
	options(t, conn, to, 1)
}

// A flood of 10,000 INVITEs leaves memory bounded and an honest request still answered.
func TestInviteFlood(t *testing.T) {
	u, _ := streamer(t, WithCallLimit(20))
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer conn.Close()
	_ = conn.SetReadBuffer(8 << 20)
	to := u.UDPAddr()
	local := conn.LocalAddr().String()
	// Drain the answers so that the flood does not back up on our side.
	drained := make(chan struct{})
	defer func() { conn.Close(); <-drained }()
	go func() {
		defer close(drained)
		buf := make([]byte, 4096)
		for {
			if _, _, err := conn.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < 10000; i++ {
		msg := fmt.Sprintf("INVITE sip:streamer@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-f%d\r\n"+
			"From: <sip:flood@%s>;tag=f%d\r\nTo: <sip:streamer@%s>\r\nCall-ID: flood-%d@test\r\nCSeq: 1 INVITE\r\n"+
			"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", to, local, i, local, i, to, i)
		_, _ = conn.WriteTo([]byte(msg), to)
	}
	require.LessOrEqual(t, u.Calls(), 20, "the call limit holds")
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	require.Less(t, int64(after.HeapInuse)-int64(before.HeapInuse), int64(256<<20), "heap growth after 10,000 INVITEs")

	probe, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer probe.Close()
	options(t, probe, to, 2)
}
