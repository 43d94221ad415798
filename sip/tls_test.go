package sip

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
)

func TestTLSCheck(t *testing.T) {
	lines, err := TLSConfig{Addr: "127.0.0.1:0"}.Check()
	require.Error(t, err)
	require.Equal(t, []string{"FAILURE: TLS port set but no certificates configured"}, lines)

	a, b := peer.NewCA(t), peer.NewCA(t)
	lines, err = TLSConfig{Addr: "127.0.0.1:0", CertFile: a.CertFile, KeyFile: b.KeyFile}.Check()
	require.Error(t, err)
	require.Equal(t, []string{"FAILURE: Key and certificate do not match"}, lines)

	lines, err = TLSConfig{Addr: "127.0.0.1:0", CertFile: a.CertFile, KeyFile: a.KeyFile, TrustFile: a.CAFile}.Check()
	require.NoError(t, err)
	require.Equal(t, []string{"SUCCESS: Key and certificate pair match", "SUCCESS: Trust bundle loaded"}, lines)

	_, err = TLSConfig{Addr: "127.0.0.1:0", CertFile: a.CertFile, KeyFile: a.KeyFile, Verify: true}.Check()
	require.Error(t, err, "verification without a trust bundle")

	lines, err = TLSConfig{Addr: "none"}.Check()
	require.NoError(t, err)
	require.Equal(t, []string{"SUCCESS: TLS not enabled"}, lines)

	_, err = New(WithTLS(TLSConfig{Addr: "127.0.0.1:0"}))
	require.ErrorContains(t, err, "TLS port set but no certificates configured")
}

// A call over TLS between two UAs (the "tls-only" CMS case: no UDP or TCP listener on
// the callee), verified against a test CA; without the CA the call fails.
func TestCallOverTLS(t *testing.T) {
	ca := peer.NewCA(t)
	calls := make(chan *Call, 1)
	callee, err := New(WithTLS(TLSConfig{Addr: "127.0.0.1:0", CertFile: ca.CertFile, KeyFile: ca.KeyFile}),
		WithInviteHandler(func(c *Call) ([]byte, error) {
			calls <- c
			return []byte(offer), nil
		}))
	require.NoError(t, err)
	defer callee.Close()
	require.Nil(t, callee.UDPAddr())
	port := callee.TLSAddr().(*net.TCPAddr).Port
	target := fmt.Sprintf("sip:streamer@localhost:%d;transport=tls", port)

	trusting, err := New(WithUDP("127.0.0.1:0"), WithClientTLS(ca.CAFile))
	require.NoError(t, err)
	defer trusting.Close()
	c, err := trusting.Dial(context.Background(), target, []byte(offer), DialOptions{Timeout: 10 * time.Second})
	require.NoError(t, err)
	in := <-calls
	require.Eventually(t, func() bool { return in.State() == DialogEstablished }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, c.Hangup(context.Background()))
	<-in.Done()

	untrusting, err := New(WithUDP("127.0.0.1:0"))
	require.NoError(t, err)
	defer untrusting.Close()
	_, err = untrusting.Dial(context.Background(), target, []byte(offer), DialOptions{Timeout: 5 * time.Second})
	require.ErrorContains(t, err, "certificate", "an unknown CA is refused")
}
