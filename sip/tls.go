package sip

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
)

// TLSConfig is the SIP TLS setup, in the CMS streamer's terms: `streamer sip certs <key>
// <cert>`, `tls sip trust <bundle>`, `tls sip verify enable`.
type TLSConfig struct {
	// Addr is the TLS listen address ("" or "none": no TLS listener).
	Addr string
	// CertFile and KeyFile are the server certificate and key (PEM).
	CertFile, KeyFile string
	// TrustFile is a PEM bundle of CAs trusted for peers (and for our outbound TLS).
	TrustFile string
	// Verify requires and verifies client certificates (default false: like CMS, peer
	// verification of the Call Bridge is an explicit choice). Certificates of servers we
	// call are always verified.
	Verify bool
}

// Check validates the TLS configuration and returns the lines CMS's `streamer enable`
// prints ("SUCCESS: Key and certificate pair match", "FAILURE: TLS port set but no
// certificates configured", ...) and, if something is wrong, an error.
func (c TLSConfig) Check() ([]string, error) {
	if c.Addr == "" || c.Addr == "none" {
		return []string{"SUCCESS: TLS not enabled"}, nil
	}
	if c.CertFile == "" || c.KeyFile == "" {
		return []string{"FAILURE: TLS port set but no certificates configured"}, errors.New("sip: TLS port set but no certificates configured")
	}
	if _, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile); err != nil {
		if _, statErr := os.Stat(c.CertFile); statErr != nil {
			return []string{"FAILURE: certificate file " + c.CertFile + " cannot be read"}, fmt.Errorf("sip: %w", statErr)
		}
		if _, statErr := os.Stat(c.KeyFile); statErr != nil {
			return []string{"FAILURE: key file " + c.KeyFile + " cannot be read"}, fmt.Errorf("sip: %w", statErr)
		}
		return []string{"FAILURE: Key and certificate do not match"}, fmt.Errorf("sip: key and certificate do not match: %w", err)
	}
	lines := []string{"SUCCESS: Key and certificate pair match"}
	if c.TrustFile != "" {
		if _, err := loadPool(c.TrustFile); err != nil {
			return append(lines, "FAILURE: trust bundle "+c.TrustFile+": "+err.Error()), err
		}
		lines = append(lines, "SUCCESS: Trust bundle loaded")
	} else if c.Verify {
		return append(lines, "FAILURE: peer verification enabled but no trust bundle configured"), errors.New("sip: peer verification needs a trust bundle")
	}
	return lines, nil
}

func loadPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("no certificates in the bundle")
	}
	return pool, nil
}

// tlsConfigs returns the listener's and the client's TLS configurations.
func (c TLSConfig) tlsConfigs() (server, client *tls.Config, err error) {
	if _, err := c.Check(); err != nil {
		return nil, nil, err
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, nil, err
	}
	server = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{MinVersion: tls.VersionTLS12}
	if c.TrustFile != "" {
		pool, err := loadPool(c.TrustFile)
		if err != nil {
			return nil, nil, err
		}
		client.RootCAs = pool
		server.ClientCAs = pool
	}
	if c.Verify {
		server.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return server, client, nil
}

// WithTLS adds a TLS listener (and uses the trust bundle for outbound TLS).
func WithTLS(c TLSConfig) Option {
	return func(u *UA) error {
		if c.Addr == "" || c.Addr == "none" {
			return nil
		}
		u.tlsCfg = &c
		return nil
	}
}

// WithClientTLS sets the trust for outbound TLS calls without a TLS listener.
func WithClientTLS(trustFile string) Option {
	return func(u *UA) error {
		pool, err := loadPool(trustFile)
		if err != nil {
			return fmt.Errorf("sip: trust bundle: %w", err)
		}
		u.clientTLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		return nil
	}
}

// TLSAddr returns the TLS listener's address, or nil.
func (u *UA) TLSAddr() net.Addr {
	if u.tlsLn == nil {
		return nil
	}
	return u.tlsLn.Addr()
}
