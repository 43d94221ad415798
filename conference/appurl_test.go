package conference

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestURLFromApp(t *testing.T) {
	for in, want := range map[string]string{
		"rtmp://h/live/s\x00":                     "rtmp://h/live/s",
		"\x00\x01xxrtmps://u:p@h:443/app/key\x00": "rtmps://u:p@h:443/app/key",
		"rtmp://h/live/s rtmps://x/y/z":           "rtmp://h/live/s",
		"http://h/live/s":                         "",
		"rtmp://":                                 "",
		"":                                        "",
	} {
		require.Equal(t, want, urlFromApp([]byte(in)), "%q", in)
	}
}

func FuzzURLFromApp(f *testing.F) {
	f.Add([]byte("rtmp://h/live/s\x00"))
	f.Add([]byte("\x00rtmps://u:p@h:443/app/key"))
	f.Add([]byte("rtmp://h:99999/"))
	f.Fuzz(func(t *testing.T, data []byte) {
		u := urlFromApp(data)
		if u == "" {
			return
		}
		if !bytes.Contains(data, []byte(u)) || len(u) > 2048 {
			t.Fatalf("%q from %q", u, data)
		}
	})
}
