package sip

import (
	"log/slog"
	"net"
	"regexp"
	"strings"

	"github.com/sipcast/sipcast/internal/redact"
)

// WithTrace logs every SIP message the UDP listener sends and receives (the CMS "SIP
// traffic trace") at debug level on the UA's logger, with secrets removed: Authorization
// and Proxy-Authorization values, SDES keys (a=crypto inline:), and user:password in URLs
// such as x-cisco-stream. Requests that sipgo's client sends from its own sockets are not
// traced yet.
func WithTrace() Option { return func(u *UA) error { u.trace = true; return nil } }

var (
	reAuthHeader = regexp.MustCompile(`(?mi)^((?:Proxy-)?Authorization:[ \t]*\S+)[^\r\n]*`)
	reInline     = regexp.MustCompile(`(?i)inline:[A-Za-z0-9+/=]+`)
)

// RedactMessage removes credentials and keys from a SIP message for logging:
// Authorization values, SDES keys, and the secrets of every URL (user information, RTMP
// stream keys, query values; internal/redact).
func RedactMessage(msg string) string {
	msg = reAuthHeader.ReplaceAllString(msg, "$1 REDACTED")
	msg = reInline.ReplaceAllString(msg, "inline:REDACTED")
	return redact.Text(msg)
}

type tracingPacketConn struct {
	net.PacketConn
	log *slog.Logger
}

func (c tracingPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	if n > 0 {
		c.log.Debug("sip recv", "from", addr.String(), "msg", RedactMessage(strings.TrimSpace(string(p[:n]))))
	}
	return n, addr, err
}

func (c tracingPacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	c.log.Debug("sip send", "to", addr.String(), "msg", RedactMessage(strings.TrimSpace(string(p))))
	return c.PacketConn.WriteTo(p, addr)
}
