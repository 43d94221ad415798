package rtmp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"syscall"
)

// Sentinels for the conditions callers branch on. Errors from a Publisher wrap one of
// them inside an *Error.
var (
	// ErrClosedDuringConnect: the server hung up before answering connect, which servers
	// (nginx-rtmp, the CMS streamer's peers) do for an unknown application.
	ErrClosedDuringConnect = errors.New("RTMP server closed the connection during connect")
	// ErrConnectRejected: NetConnection.Connect.Rejected or another connect _error.
	ErrConnectRejected = errors.New("RTMP server rejected connect")
	// ErrAuthFailed: the server refused the user name or password.
	ErrAuthFailed = errors.New("RTMP authentication failed")
	// ErrAuthRequired: the server wants credentials and the URL has none.
	ErrAuthRequired = errors.New("RTMP server requires authentication")
	// ErrBadName: NetStream.Publish.BadName (the stream is already being published, or
	// the name is not allowed).
	ErrBadName = errors.New("RTMP server refused the stream name")
	// ErrPublishRejected: publish answered with an error status other than BadName.
	ErrPublishRejected = errors.New("RTMP server rejected publish")
	// ErrClosedDuringPublish: the server hung up after publish was sent.
	ErrClosedDuringPublish = errors.New("RTMP server closed the connection during publish")
	// ErrTLSVerify: the server's certificate failed verification.
	ErrTLSVerify = errors.New("RTMPS certificate verification failed")
	// ErrResolve: the host name could not be resolved.
	ErrResolve = errors.New("cannot resolve the RTMP server's host name")
	// ErrRefused: nothing listens on the server's port.
	ErrRefused = errors.New("RTMP server refused the connection")
	// ErrConnectionLost: an established connection broke.
	ErrConnectionLost = errors.New("RTMP connection lost")
	// ErrClosed: the Publisher or Server was closed.
	ErrClosed = errors.New("rtmp: closed")
	// ErrProtocol: the peer sent something that breaks the protocol.
	ErrProtocol = errors.New("rtmp: protocol error")
)

// Error is a failure of one step of an RTMP session, with what a person needs to fix it.
// It never contains credentials.
type Error struct {
	// Op is the step: "dial", "tls", "handshake", "connect", "createStream", "publish",
	// "play" or "send".
	Op string
	// URL is the redacted URL.
	URL string
	// Code and Description come from the server's status object, when there was one.
	Code, Description string
	// Hint says what to check.
	Hint string
	// Err is the underlying cause; errors.Is matches the sentinels through it.
	Err error
}

func (e *Error) Error() string {
	s := e.Err.Error()
	if e.Code != "" {
		s += " (" + e.Code
		if e.Description != "" {
			s += ": " + e.Description
		}
		s += ")"
	}
	if e.Hint != "" {
		s += ": " + e.Hint
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// classifyDialError turns a dial or TLS error into an *Error that names the host.
func classifyDialError(u *URL, err error) error {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &dnsErr):
		return &Error{Op: "dial", URL: u.String(), Err: fmt.Errorf("%w %q: %v", ErrResolve, u.Host, dnsErr.Err),
			Hint: "check the host name in " + u.String()}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &Error{Op: "dial", URL: u.String(), Err: fmt.Errorf("%w at %s", ErrRefused, u.Address()),
			Hint: "is an RTMP server listening on that port?"}
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr), errors.As(err, &invalid):
		return &Error{Op: "tls", URL: u.String(), Err: fmt.Errorf("%w for %s: %v", ErrTLSVerify, u.Host, errors.Unwrap(err)),
			Hint: "add the server's CA to the trust bundle, or check that the certificate names " + u.Host}
	}
	return &Error{Op: "dial", URL: u.String(), Err: fmt.Errorf("%w: %s: %v", ErrConnectionLost, u.Address(), err)}
}
