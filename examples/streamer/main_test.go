package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
)

// -check prints the CMS-like failure for a TLS address without certificates and exits 1;
// with a valid configuration it prints SUCCESS lines and exits 0.
func TestCheck(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"-check", "-sip-tls", "127.0.0.1:7001"}, &out, &errb)
	require.Equal(t, 1, code, out.String())
	require.Contains(t, out.String(), "FAILURE: TLS port set but no certificates configured")

	ca := peer.NewCA(t)
	out.Reset()
	dir := filepath.Join(t.TempDir(), "rec")
	code = run(context.Background(), []string{"-check", "-sip-udp", "127.0.0.1:7000", "-sip-tls", "127.0.0.1:7001",
		"-cert", ca.CertFile, "-key", ca.KeyFile, "-trust", ca.CAFile, "-verify", "-record-dir", dir,
		"-stream-url", "rtmp://broadcast:s3cret@127.0.0.1/live/SpaceStream77"}, &out, &errb)
	require.Equal(t, 0, code, out.String())
	require.Contains(t, out.String(), "SUCCESS: Key and certificate pair match")
	require.Contains(t, out.String(), "SUCCESS: Record directory")
	require.NotContains(t, out.String(), "FAILURE")
	require.NotContains(t, out.String(), "s3cret", "the stream URL's password is never printed")

	out.Reset()
	code = run(context.Background(), []string{"-check", "-resolution", "4k", "-stream-url", "http://x"}, &out, &errb)
	require.Equal(t, 1, code)
	require.Contains(t, out.String(), `FAILURE: resolution "4k": use 720p, 1080p or audio`)
	require.Contains(t, out.String(), "FAILURE: stream URL")
}
