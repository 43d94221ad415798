// Package redact removes secrets from URLs and from text that may hold URLs, for logs,
// errors, events, CDRs and pages. A URL's secrets are its user information, the values of
// its query, and for RTMP its stream key: the last path element, which YouTube, Facebook
// and most RTMP services use as the credential that lets anyone publish on the channel.
//
// It is used by rtmp (URL.String, Redact) and sip (the message trace); it works on any
// text, whatever case the scheme is written in and whatever characters the password holds.
package redact

import (
	"strings"
)

// Mask is what replaces a secret.
const Mask = "****"

// Key masks a stream key: Mask and, for keys of 12 characters or more, their last four
// (enough for an operator to tell two keys apart, far too little to publish with).
func Key(k string) string {
	if k == "" {
		return ""
	}
	if len(k) >= 12 {
		return Mask + k[len(k)-4:]
	}
	return Mask
}

// Text returns s with the secrets of every URL in it removed. A URL starts at a scheme
// followed by "://" and ends at white space, a quote, '<' or '>'.
func Text(s string) string {
	var b strings.Builder
	for {
		i := schemeStart(s)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		end := i
		for end < len(s) && !isURLEnd(s[end]) {
			end++
		}
		b.WriteString(URL(s[i:end]))
		s = s[end:]
	}
}

func isURLEnd(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '"', '\'', '<', '>', '`':
		return true
	}
	return false
}

// schemeStart returns where the first "scheme://" of s starts, or -1.
func schemeStart(s string) int {
	from := 0
	for {
		j := strings.Index(s[from:], "://")
		if j < 0 {
			return -1
		}
		j += from
		i := j
		for i > 0 && isSchemeChar(s[i-1]) {
			i--
		}
		for i < j && !isAlpha(s[i]) { // a scheme starts with a letter
			i++
		}
		if i < j {
			return i
		}
		from = j + 3
	}
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isSchemeChar(c byte) bool {
	return isAlpha(c) || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'
}

// URL redacts one URL: its user information goes, its query values and fragment are
// masked, and for rtmp and rtmps (any case) the stream key is masked when the path has an
// application and a stream. The result is for people, not for dialing.
func URL(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return u
	}
	scheme, rest := u[:i], u[i+3:]
	// For redaction, when in doubt an '@' ends user information: a path or query with
	// an '@' loses what precedes it, a password never shows.
	at := strings.LastIndexByte(rest, '@')
	if at >= 0 {
		rest = rest[at+1:]
	}
	query := ""
	if q := strings.IndexAny(rest, "?#"); q >= 0 {
		rest, query = rest[:q], rest[q:]
	}
	host, path, _ := strings.Cut(rest, "/")
	lower := strings.ToLower(scheme)
	if (lower == "rtmp" || lower == "rtmps") && path != "" {
		if j := strings.LastIndexByte(path, '/'); j >= 0 && j+1 < len(path) {
			path = path[:j+1] + Key(path[j+1:])
		}
	}
	out := scheme + "://" + host
	if path != "" || strings.Contains(rest, "/") {
		out += "/" + path
	}
	return out + maskQuery(query)
}

// UserinfoEnd returns the index of the '@' that ends the user information of rest (a URL
// after its "scheme://"), or -1. Passwords are taken as users type them, unescaped, so
// they may hold '/', ':', '@', '?' or '#':
//   - an '@' before the first '/' ends the user information (the last such one);
//   - else an '@' after it does when what precedes the first '/' looks like "user:pa"
//     (a ':' and no '.', so not "host.example:1935") and nothing before the '@' starts a
//     query: "u:pa/ss@host/live/key". A path such as "host/live/a@b" is a path.
func UserinfoEnd(rest string) int {
	slash := strings.IndexByte(rest, '/')
	if slash < 0 {
		slash = len(rest)
	}
	if at := strings.LastIndexByte(rest[:slash], '@'); at >= 0 {
		return at
	}
	head := rest[:slash]
	if !strings.Contains(head, ":") || strings.Contains(head, ".") || strings.ContainsAny(head, "[]") {
		return -1
	}
	tail := len(rest)
	if q := strings.IndexAny(rest, "?#"); q >= 0 {
		tail = q
	}
	return strings.LastIndexByte(rest[:tail], '@')
}

// maskQuery keeps a query's keys and masks every value (a token may hide under any key).
func maskQuery(q string) string {
	if q == "" {
		return ""
	}
	sep, body := q[:1], q[1:]
	if sep == "#" {
		return "#" + Mask
	}
	frag := ""
	if h := strings.IndexByte(body, '#'); h >= 0 {
		body, frag = body[:h], "#"+Mask
	}
	parts := strings.Split(body, "&")
	for i, p := range parts {
		if k, _, ok := strings.Cut(p, "="); ok {
			parts[i] = k + "=" + Mask
		} else if p != "" {
			parts[i] = Mask
		}
	}
	return "?" + strings.Join(parts, "&") + frag
}
