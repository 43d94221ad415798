package rtmp

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/sipcast/sipcast/internal/redact"
)

// Default ports.
const (
	DefaultPort      = 1935
	DefaultPortRTMPS = 443
)

// ErrInvalidURL is returned by ParseURL.
var ErrInvalidURL = errors.New("rtmp: invalid URL")

// URL is a parsed rtmp[s]://[user:pass@]host[:port]/app[/instance]/stream[?query] URL.
//
// The path is split as ffmpeg splits it: the first element is the application; with
// three or more elements the first two are (app/instance), unless the second contains a
// ':' (a playpath prefix such as "mp4:"); a single element ("rtmp://host/test", the CMS
// case) is the application with an empty stream name.
type URL struct {
	Scheme string // "rtmp" or "rtmps"
	Host   string // host name or IP address, without brackets
	Port   int
	App    string // application, possibly "app/instance"
	Stream string // stream name (playpath), without the query
	// RawQuery is what followed '?'; it is sent as part of the stream name, as ffmpeg does.
	RawQuery string
	// User and Password come from the URL's user information. They are used for
	// authentication and never appear in String, errors or logs.
	User, Password string
}

// ParseURL parses s. The user information ends at the last '@' of the authority, so
// that a password may hold '/', ':' or '@' as users type them (a path with an '@' after
// a host name is still a path). Errors never contain the
// user information, the stream key or the query.
func ParseURL(s string) (*URL, error) {
	var user, pass string
	hasUser := false
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		if at := redact.UserinfoEnd(rest); at >= 0 {
			info := rest[:at]
			u, p, _ := strings.Cut(info, ":")
			var err1, err2 error
			user, err1 = url.PathUnescape(u)
			pass, err2 = url.PathUnescape(p)
			if err1 != nil || err2 != nil {
				user, pass = u, p // taken as typed
			}
			hasUser = true
			s = s[:i+3] + rest[at+1:]
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Error quotes the whole URL; say what is wrong without it.
		return nil, fmt.Errorf("%w: %s", ErrInvalidURL, redactParseError(err))
	}
	out := &URL{Scheme: strings.ToLower(u.Scheme), Host: u.Hostname(), RawQuery: u.RawQuery}
	switch out.Scheme {
	case "rtmp":
		out.Port = DefaultPort
	case "rtmps":
		out.Port = DefaultPortRTMPS
	case "":
		return nil, fmt.Errorf("%w: no scheme, expected rtmp:// or rtmps://", ErrInvalidURL)
	default:
		return nil, fmt.Errorf("%w: scheme %q not supported, expected rtmp or rtmps", ErrInvalidURL, out.Scheme)
	}
	if out.Host == "" {
		return nil, fmt.Errorf("%w: no host", ErrInvalidURL)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("%w: port %q", ErrInvalidURL, p)
		}
		out.Port = n
	}
	if hasUser {
		out.User, out.Password = user, pass
	}
	path := strings.TrimPrefix(u.Path, "/")
	if path == "" {
		return nil, fmt.Errorf("%w: no application in the path", ErrInvalidURL)
	}
	first, rest, found := strings.Cut(path, "/")
	switch {
	case !found:
		out.App = first
	default:
		second, tail, more := strings.Cut(rest, "/")
		if more && !strings.Contains(second, ":") {
			out.App, out.Stream = first+"/"+second, tail
		} else {
			out.App, out.Stream = first, rest
		}
	}
	return out, nil
}

// redactParseError says what url.Parse found wrong without quoting any of the URL (its
// messages quote the port or the escape, which may be part of a stream key or query).
func redactParseError(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "invalid port"):
		return "malformed port"
	case strings.Contains(msg, "escape"):
		return "malformed percent-escape"
	case strings.Contains(msg, "control character"):
		return "control character in the URL"
	case strings.Contains(msg, "IPv6"), strings.Contains(msg, "host"):
		return "malformed host"
	}
	return "malformed"
}

// Address returns host:port for dialing.
func (u *URL) Address() string { return net.JoinHostPort(u.Host, strconv.Itoa(u.Port)) }

func (u *URL) hostPort() string {
	h := u.Host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	def := DefaultPort
	if u.Scheme == "rtmps" {
		def = DefaultPortRTMPS
	}
	if u.Port != def {
		h += ":" + strconv.Itoa(u.Port)
	}
	return h
}

// TCURL returns the tcUrl sent in connect: scheme, host, port and application, without
// credentials or the stream name.
func (u *URL) TCURL() string {
	return u.Scheme + "://" + net.JoinHostPort(u.Host, strconv.Itoa(u.Port)) + "/" + u.App
}

// PublishName returns the stream name with the query, as sent in publish and play.
func (u *URL) PublishName() string {
	if u.RawQuery == "" {
		return u.Stream
	}
	return u.Stream + "?" + u.RawQuery
}

// String returns the URL for logs, errors and events: without user information, with
// the stream key masked (redact.Key: at most its last four characters) and every query
// value masked.
func (u *URL) String() string {
	s := u.Scheme + "://" + u.hostPort() + "/" + u.App
	if u.Stream != "" {
		s += "/" + u.Stream // masked by redact.URL
	}
	if u.RawQuery != "" {
		s += "?" + u.RawQuery
	}
	// The built string goes through redact.URL as well: a path that holds an '@' may be
	// a password typed with a '/' before it, and is cut there.
	return redact.URL(s)
}

// Redact returns s with the secrets of every URL in it removed: user information, RTMP
// stream keys (masked as in String) and query values, whatever the case of the scheme
// and the characters of the password. It is used for text that might hold a URL the user
// typed.
func Redact(s string) string { return redact.Text(s) }
