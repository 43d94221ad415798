package rtmp

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
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

// ParseURL parses s. Errors never contain the password.
func ParseURL(s string) (*URL, error) {
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
	if u.User != nil {
		out.User = u.User.Username()
		out.Password, _ = u.User.Password()
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

func redactParseError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
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

// secretQueryKeys are query parameters whose values String masks.
var secretQueryKeys = []string{"pass", "password", "pwd", "secret", "token", "key", "auth", "response", "sig", "signature", "passphrase"}

func redactQuery(q string) string {
	if q == "" {
		return ""
	}
	parts := strings.Split(q, "&")
	for i, p := range parts {
		k, _, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		lk := strings.ToLower(k)
		for _, s := range secretQueryKeys {
			if strings.Contains(lk, s) {
				parts[i] = k + "=REDACTED"
				break
			}
		}
	}
	return strings.Join(parts, "&")
}

// String returns the URL without user information and with secret-looking query values
// masked, for logs and errors.
func (u *URL) String() string {
	s := u.Scheme + "://" + u.hostPort() + "/" + u.App
	if u.Stream != "" {
		s += "/" + u.Stream
	}
	if u.RawQuery != "" {
		s += "?" + redactQuery(u.RawQuery)
	}
	return s
}

// Redact returns s with any URL user information and secret query values removed. It is
// used for text that might contain a URL the user typed.
func Redact(s string) string {
	if u, err := ParseURL(s); err == nil {
		return u.String()
	}
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		if at := strings.LastIndex(strings.SplitN(rest, "/", 2)[0], "@"); at >= 0 {
			return s[:i+3] + rest[at+1:]
		}
	}
	return s
}
