package rtmp

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
)

// TestCredentialsNeverLeak runs the publisher through success and every failure path with
// credentials in the URL and fails if the password (or user:password) shows up in any log
// line, event, error or String().
func TestCredentialsNeverLeak(t *testing.T) {
	peer.CheckNoLeaks(t)
	const user, pass = "broadcast", "Zq9-s3cr3t-pw"
	clip := loadClip(t)
	var logs peer.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := NewServer(WithServerLogger(logger), WithApps("live"), WithAdobeAuth(func(u string) (string, bool) { return pass, u == user }))
	require.NoError(t, err)
	defer srv.Close()
	addr, err := srv.Listen("127.0.0.1:0")
	require.NoError(t, err)

	var seen []string
	var mu sync.Mutex
	record := func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		if e.Err != nil {
			seen = append(seen, e.Err.Error(), fmt.Sprintf("%+v", e.Err))
		}
	}
	urls := map[string]string{
		"success":        fmt.Sprintf("rtmp://%s:%s@%s/live/s?token=%s", user, pass, addr, pass),
		"wrong password": fmt.Sprintf("rtmp://%s:%s-x@%s/live/s", user, pass, addr),
		"unknown app":    fmt.Sprintf("rtmp://%s:%s@%s/nope/s", user, pass, addr),
		"refused":        fmt.Sprintf("rtmp://%s:%s@127.0.0.1:%d/live/s", user, pass, peer.FreePort(t)),
		"rtmps to plain": fmt.Sprintf("rtmps://%s:%s@%s/live/s", user, pass, addr),
	}
	for name, u := range urls {
		t.Run(name, func(t *testing.T) {
			opts := append(clipOptions(clip), WithLogger(logger), WithEvents(record), WithMaxAttempts(1), WithConnectTimeout(5*time.Second))
			p, err := NewPublisher(u, opts...)
			require.NoError(t, err)
			mu.Lock()
			seen = append(seen, p.URL())
			mu.Unlock()
			if name == "success" {
				require.NoError(t, p.Ready(ctxT(t, 10*time.Second)))
				feed(t, p, clip, 1, false, nil)
				require.NoError(t, p.Close())
				return
			}
			<-p.Done()
			require.Error(t, p.Err())
			mu.Lock()
			seen = append(seen, p.Err().Error())
			mu.Unlock()
		})
	}
	_, err = NewPublisher("rtmp://"+user+":"+pass+"@h:99x/live/s", clipOptions(clip)...)
	require.Error(t, err)
	seen = append(seen, err.Error())

	mu.Lock()
	all := logs.String() + strings.Join(seen, "\n")
	mu.Unlock()
	require.NotEmpty(t, logs.String())
	require.NotContains(t, all, pass)
	require.NotContains(t, all, user+":")
}
