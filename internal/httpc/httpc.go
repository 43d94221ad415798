// Package httpc holds what the REST clients (vbrick, cmsapi) share: a transport that
// verifies TLS against a given trust bundle, and jittered exponential backoff.
package httpc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"
)

// TrustPool parses a PEM trust bundle; ok is false when it holds no certificate.
func TrustPool(pem []byte) (pool *x509.CertPool, ok bool) {
	pool = x509.NewCertPool()
	return pool, pool.AppendCertsFromPEM(pem)
}

// Transport clones http.DefaultTransport with TLS 1.2+ verified against roots (nil: the
// system roots).
func Transport(roots *x509.CertPool) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return tr
}

// Backoff is the wait before attempt+1: a ceiling of base doubled per attempt, capped at
// max, with the upper half jittered ("equal jitter").
func Backoff(attempt int, base, max time.Duration) time.Duration {
	ceil := base << min(attempt-1, 20)
	if ceil > max || ceil <= 0 {
		ceil = max
	}
	return ceil/2 + rand.N(ceil/2+1)
}

// Sleep waits d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// IsLoopback reports whether host (a name or an address, without port) is this machine:
// "localhost" or a loopback address. Plain http is allowed only there.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
