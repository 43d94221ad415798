package rtmp

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		in                       string
		host                     string
		port                     int
		app, stream, query, user string
		tcURL, str               string
	}{
		{"rtmp://broadcast:broadcast@10.106.81.40/live/SpaceStream77", "10.106.81.40", 1935, "live", "SpaceStream77", "", "broadcast",
			"rtmp://10.106.81.40:1935/live", "rtmp://10.106.81.40/live/****am77"},
		{"rtmp://10.106.81.40/test", "10.106.81.40", 1935, "test", "", "", "", "rtmp://10.106.81.40:1935/test", "rtmp://10.106.81.40/test"},
		{"rtmps://live-api-s.facebook.com:443/rtmp/KEY", "live-api-s.facebook.com", 443, "rtmp", "KEY", "", "",
			"rtmps://live-api-s.facebook.com:443/rtmp", "rtmps://live-api-s.facebook.com/rtmp/****"},
		{"rtmps://h/app/s", "h", 443, "app", "s", "", "", "rtmps://h:443/app", "rtmps://h/app/****"},
		{"rtmp://h:1940/app/inst/stream?token=abc&x=1", "h", 1940, "app/inst", "stream", "token=abc&x=1", "",
			"rtmp://h:1940/app/inst", "rtmp://h:1940/app/inst/****?token=****&x=****"},
		{"rtmp://h/vod/mp4:dir/file.mp4", "h", 1935, "vod", "mp4:dir/file.mp4", "", "", "rtmp://h:1935/vod", "rtmp://h/vod/mp4:dir/****"},
		{"rtmp://[::1]:1936/live/s", "::1", 1936, "live", "s", "", "", "rtmp://[::1]:1936/live", "rtmp://[::1]:1936/live/****"},
		// A password with '/', ':' and '@' in it, as users type them.
		{"rtmp://u:pa/ss:w@rd@h/live/StreamKey-1234", "h", 1935, "live", "StreamKey-1234", "", "u",
			"rtmp://h:1935/live", "rtmp://h/live/****1234"},
		// A stream name with an '@' parses as a path, but String cuts at the '@' (it
		// cannot tell it from a password typed with a '/'): over-redaction, never a leak.
		{"rtmp://h/live/guest@home", "h", 1935, "live", "guest@home", "", "", "rtmp://h:1935/live", "rtmp://home"},
	} {
		t.Run(c.in, func(t *testing.T) {
			u, err := ParseURL(c.in)
			require.NoError(t, err)
			require.Equal(t, c.host, u.Host)
			require.Equal(t, c.port, u.Port)
			require.Equal(t, c.app, u.App)
			require.Equal(t, c.stream, u.Stream)
			require.Equal(t, c.query, u.RawQuery)
			require.Equal(t, c.user, u.User)
			require.Equal(t, c.tcURL, u.TCURL())
			require.Equal(t, c.str, u.String())
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	for _, in := range []string{"http://h/a/s", "rtmp:///live/s", "rtmp://h", "rtmp://h:99999/a/s", "live/s", "rtmp://user:pa ss@h/%zz"} {
		_, err := ParseURL(in)
		require.ErrorIs(t, err, ErrInvalidURL, in)
	}
	_, err := ParseURL("rtmp://user:s3cr3t@h:bad/a/s")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cr3t")
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"rtmp://u:p@h/live/s":                                     "rtmp://h/live/****",
		"see rtmp://u:pw@host/x":                                  "see rtmp://host/x",
		"rtmp://u:pa/ss@host/live/abcd-efgh-ijkl-mnop":            "rtmp://host/live/****mnop",
		"RTMP://U:PW@HOST/LIVE/ABCD-EFGH-IJKL-MNOP":               "RTMP://HOST/LIVE/****MNOP",
		"rtmps://a.rtmp.youtube.com/live2/xxxx-yyyy-zzzz-wwww-vv": "rtmps://a.rtmp.youtube.com/live2/****w-vv",
		`x-cisco-stream="rtmp://u:p@h/live/CMS3";isfocus`:         `x-cisco-stream="rtmp://h/live/****";isfocus`,
		"rtmp://h/live/s?token=abc&sig":                           "rtmp://h/live/****?token=****&****",
		"two rtmp://a:b@h/x/k1 and rtmp://c:d@i/y/k2":             "two rtmp://h/x/**** and rtmp://i/y/****",
		"rtmp://h/test":                                           "rtmp://h/test",
		"no url here":                                             "no url here",
	} {
		require.Equal(t, want, Redact(in), in)
	}
}

// ParseURL's errors quote nothing of the URL.
func TestParseURLErrorsQuoteNothing(t *testing.T) {
	for _, in := range []string{"rtmp://user:s3cr/et@h:bad/a/s", "rtmp://h:s3cret/a/s", "rtmp://h/a/s%zzs3cret", "rtmp://h/a/s3cret\x00"} {
		_, err := ParseURL(in)
		require.ErrorIs(t, err, ErrInvalidURL, in)
		require.NotContains(t, err.Error(), "s3cr", in)
	}
}

// No secret survives Redact, whatever the URL's shape and case: a generated user,
// password, stream key and token, put together in the ways users write URLs.
func FuzzRedact(f *testing.F) {
	f.Add("rtmp", "user", "pass/w@rd", "h.example", "live", "abcd-efgh-ijkl-mnop", "tok3n", uint8(0))
	f.Add("RTMPS", "U", "P:Q", "[::1]:1935", "app/inst", "KEY", "x", uint8(7))
	f.Fuzz(func(t *testing.T, scheme, user, pass, host, app, key, token string, shape uint8) {
		if !isSchemeWord(scheme) || !strings.EqualFold(scheme, "rtmp") && !strings.EqualFold(scheme, "rtmps") ||
			strings.ContainsAny(host+app, "@/?# \t\r\n\"'<>`") || host == "" || app == "" ||
			strings.ContainsAny(key, "/?#@* \t\r\n\"'<>`") || strings.ContainsAny(token, "&#") ||
			strings.ContainsAny(user+pass+token, " \t\r\n\"'<>`") { // these end a URL in text
			return
		}
		u := scheme + "://"
		if shape&1 != 0 {
			u += user + ":" + pass + "@"
		}
		u += host + "/" + app + "/" + key
		if shape&2 != 0 {
			u += "?token=" + token
		}
		text := u
		switch shape >> 2 & 3 {
		case 1:
			text = "url " + u + " end"
		case 2:
			text = `x-cisco-stream="` + u + `"`
		case 3:
			text = "<" + u + ">"
		}
		out := Redact(text)
		// What may show: the visible parts, the mask and a long key's last four.
		shown := "****"
		if len(key) >= 12 {
			shown += key[len(key)-4:]
		}
		allowed := strings.ToLower(scheme + "://" + host + "/" + app + "/" + shown + "?token=****")
		leaks := func(in, secret string) bool {
			return len(secret) >= 4 && strings.Contains(strings.ToLower(in), strings.ToLower(secret)) &&
				!strings.Contains(allowed, strings.ToLower(secret))
		}
		keySecret := key
		if len(key) >= 12 {
			keySecret = key[:len(key)-4]
		}
		if shape&1 != 0 && leaks(out, pass) {
			t.Fatalf("password %q survives in %q", pass, out)
		}
		if leaks(out, keySecret) {
			t.Fatalf("stream key %q survives in %q", key, out)
		}
		if shape&2 != 0 && leaks(out, token) {
			t.Fatalf("token %q survives in %q", token, out)
		}
		if p, err := ParseURL(u); err == nil {
			if str := p.String(); shape&1 != 0 && leaks(str, pass) || leaks(str, keySecret) || shape&2 != 0 && leaks(str, token) {
				t.Fatalf("String %q keeps a secret of %q", str, u)
			}
		} else if shape&1 != 0 && leaks(err.Error(), pass) || leaks(err.Error(), keySecret) {
			t.Fatalf("ParseURL's error %q holds a secret", err)
		}
	})
}

func isSchemeWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func TestAdobeResponse(t *testing.T) {
	// Worked through by hand from ffmpeg's do_adobe_auth:
	// base64(md5("user"+"salt"+"pass")) then md5 of that + opaque + client challenge.
	r1 := adobeResponse("user", "pass", "salt", "opaque", "challenge", "0000abcd")
	r2 := adobeResponse("user", "pass", "salt", "", "opaque", "0000abcd")
	require.Equal(t, r1, r2, "opaque, when absent, is replaced by the challenge")
	require.NotEqual(t, r1, adobeResponse("user", "pasS", "salt", "opaque", "challenge", "0000abcd"))
	require.Len(t, r1, 24)
	// The known answer, computed outside Go with
	//   s1=$(printf '%s' usersaltpass | openssl md5 -binary | base64)   # D/gO1WGxSUEeNGgoaUUg/Q==
	//   printf '%s' "${s1}opaque0000abcd" | openssl md5 -binary | base64
	require.Equal(t, "H1JZcOy5BAiq84aHAKLlVw==", r1)
}
