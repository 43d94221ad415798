package rtmp

import (
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
			"rtmp://10.106.81.40:1935/live", "rtmp://10.106.81.40/live/SpaceStream77"},
		{"rtmp://10.106.81.40/test", "10.106.81.40", 1935, "test", "", "", "", "rtmp://10.106.81.40:1935/test", "rtmp://10.106.81.40/test"},
		{"rtmps://live-api-s.facebook.com:443/rtmp/KEY", "live-api-s.facebook.com", 443, "rtmp", "KEY", "", "",
			"rtmps://live-api-s.facebook.com:443/rtmp", "rtmps://live-api-s.facebook.com/rtmp/KEY"},
		{"rtmps://h/app/s", "h", 443, "app", "s", "", "", "rtmps://h:443/app", "rtmps://h/app/s"},
		{"rtmp://h:1940/app/inst/stream?token=abc&x=1", "h", 1940, "app/inst", "stream", "token=abc&x=1", "",
			"rtmp://h:1940/app/inst", "rtmp://h:1940/app/inst/stream?token=REDACTED&x=1"},
		{"rtmp://h/vod/mp4:dir/file.mp4", "h", 1935, "vod", "mp4:dir/file.mp4", "", "", "rtmp://h:1935/vod", "rtmp://h/vod/mp4:dir/file.mp4"},
		{"rtmp://[::1]:1936/live/s", "::1", 1936, "live", "s", "", "", "rtmp://[::1]:1936/live", "rtmp://[::1]:1936/live/s"},
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
	require.Equal(t, "rtmp://h/live/s", Redact("rtmp://u:p@h/live/s"))
	require.Equal(t, "see rtmp://host/x", Redact("see rtmp://u:pw@host/x"))
}

func TestAdobeResponse(t *testing.T) {
	// Worked through by hand from ffmpeg's do_adobe_auth:
	// base64(md5("user"+"salt"+"pass")) then md5 of that + opaque + client challenge.
	r1 := adobeResponse("user", "pass", "salt", "opaque", "challenge", "0000abcd")
	r2 := adobeResponse("user", "pass", "salt", "", "opaque", "0000abcd")
	require.Equal(t, r1, r2, "opaque, when absent, is replaced by the challenge")
	require.NotEqual(t, r1, adobeResponse("user", "pasS", "salt", "opaque", "challenge", "0000abcd"))
	require.Len(t, r1, 24)
}
