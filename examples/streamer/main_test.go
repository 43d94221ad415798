package main

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/cmsapi"
	"github.com/sipcast/sipcast/internal/peer"
)

// -check prints the CMS-like failure for a TLS address without certificates and exits 1;
// with a valid configuration it prints SUCCESS lines and exits 0.
func TestCheck(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"-check", "-sip-tls", "127.0.0.1:7001"}, &out, &errb)
	require.Equal(t, 1, code, out.String())
	require.Contains(t, out.String(), "FAILURE: TLS port set but no certificates configured")

	ca := peer.NewCA(t)
	out.Reset()
	dir := filepath.Join(t.TempDir(), "rec")
	code = run(context.Background(), []string{"-check", "-sip-udp", "127.0.0.1:7000", "-sip-tls", "127.0.0.1:7001",
		"-cert", ca.CertFile, "-key", ca.KeyFile, "-trust", ca.CAFile, "-verify", "-record-dir", dir,
		"-stream-url", "rtmp://broadcast:s3cret@127.0.0.1/live/SpaceStream77"}, &out, &errb)
	require.Equal(t, 0, code, out.String())
	require.Contains(t, out.String(), "SUCCESS: Key and certificate pair match")
	require.Contains(t, out.String(), "SUCCESS: Record directory")
	require.NotContains(t, out.String(), "FAILURE")
	require.NotContains(t, out.String(), "s3cret", "the stream URL's password is never printed")

	out.Reset()
	code = run(context.Background(), []string{"-check", "-resolution", "4k", "-stream-url", "http://x"}, &out, &errb)
	require.Equal(t, 1, code)
	require.Contains(t, out.String(), `FAILURE: resolution "4k": use 720p, 1080p or audio`)
	require.Contains(t, out.String(), "FAILURE: stream URL")
}

// -api serves the CMS API from the streamer: Basic auth with the password from the
// file, configuration and live objects; the password never reaches the log.
func TestAPI(t *testing.T) {
	pw, pwFile := apiSetup(t)

	var out bytes.Buffer
	code := run(context.Background(), []string{"-check", "-sip-udp", "127.0.0.1:0", "-api", "127.0.0.1:0", "-api-password-file", pwFile}, &out, &out)
	require.Equal(t, 1, code)
	require.Contains(t, out.String(), "FAILURE: API on 127.0.0.1:0 needs -cert and -key for HTTPS (or -api-insecure on loopback)")
	out.Reset()
	code = run(context.Background(), []string{"-check", "-sip-udp", "127.0.0.1:0", "-api", "0.0.0.0:8443", "-api-insecure", "-api-password-file", pwFile}, &out, &out)
	require.Equal(t, 1, code)
	require.Contains(t, out.String(), `FAILURE: api-insecure serves plain HTTP: only on a loopback address, not "0.0.0.0"`)
	out.Reset()
	code = run(context.Background(), []string{"-check", "-sip-udp", "127.0.0.1:0", "-api", "127.0.0.1:0", "-api-insecure"}, &out, &out)
	require.Equal(t, 1, code)
	require.Contains(t, out.String(), "FAILURE: API password: -api needs -api-password-file")
	out.Reset()
	code = run(context.Background(), []string{"-check", "-sip-udp", "127.0.0.1:0", "-node", "../etc"}, &out, &out)
	require.Equal(t, 1, code)
	require.Contains(t, out.String(), `FAILURE: node name "../etc"`)
	for _, dsn := range []string{"host=db user=cms password=Db-Secret", "postgres://cms:Db-Secret@db/sipcast"} {
		out.Reset()
		code = run(context.Background(), []string{"-check", "-sip-udp", "127.0.0.1:0", "-api", "127.0.0.1:0", "-api-insecure",
			"-api-password-file", pwFile, "-cms-db", dsn}, &out, &out)
		require.Equal(t, 1, code)
		require.Contains(t, out.String(), "FAILURE: cms-db: give the password in PGPASSWORD or ~/.pgpass, not on the command line")
		require.NotContains(t, out.String(), "Db-Secret")
	}

	logs, stop := runStreamer(t, "-sip-udp", "127.0.0.1:0", "-sip-tcp", "none", "-record-dir", t.TempDir(),
		"-api", "127.0.0.1:0", "-api-insecure", "-api-user", "tms", "-api-password-file", pwFile)
	base := "http://" + apiAddr(t, logs)
	ctx := context.Background()

	c, err := cmsapi.NewClient(base, "tms", pw)
	require.NoError(t, err)
	st, err := c.Status(ctx)
	require.NoError(t, err)
	require.True(t, st.Activated)
	id, err := c.CreateObject(ctx, "coSpaces", &cmsapi.CoSpace{Name: "Board", URI: "Board", StreamURL: "rtmp://u:p@127.0.0.1/live/board"})
	require.NoError(t, err)
	space, err := cmsapi.GetObject[cmsapi.CoSpace](ctx, c, "coSpaces/"+id)
	require.NoError(t, err)
	require.Equal(t, "board", space.URI)
	calls, err := cmsapi.ListAll[cmsapi.Call](ctx, c, "calls", nil)
	require.NoError(t, err)
	require.Empty(t, calls)
	callID, err := c.Create(ctx, "calls", url.Values{"coSpace": {id}})
	require.NoError(t, err)
	calls, err = cmsapi.ListAll[cmsapi.Call](ctx, c, "calls", nil)
	require.NoError(t, err)
	require.Len(t, calls, 1)
	require.Equal(t, callID, calls[0].ID)
	require.NoError(t, c.Delete(ctx, "calls/"+callID))

	bad, err := cmsapi.NewClient(base, "tms", "wrong", cmsapi.WithRetry(1, time.Millisecond, time.Millisecond))
	require.NoError(t, err)
	_, err = bad.Status(ctx)
	require.ErrorIs(t, err, cmsapi.ErrUnauthorized)

	stop()
	require.NotContains(t, logs.String(), pw)
	require.NotContains(t, logs.String(), "wrong")
}

// apiSetup starts the leak check and writes an API password file, returning the
// password and the file. os/signal starts one goroutine for the process at the first
// Notify, and keeps it: it is started before the leak check looks.
func apiSetup(t *testing.T) (pw, pwFile string) {
	t.Helper()
	warm := make(chan os.Signal, 1)
	signal.Notify(warm, syscall.SIGUSR2)
	signal.Stop(warm)
	peer.CheckNoLeaks(t)
	pw = "Api-Pa55-word"
	pwFile = filepath.Join(t.TempDir(), "api.pw")
	require.NoError(t, os.WriteFile(pwFile, []byte(pw+"\n"), 0o600))
	return pw, pwFile
}

// runStreamer runs the streamer in this process with args; stop ends it (as SIGTERM
// would) and checks that it exits 0.
func runStreamer(t *testing.T, args ...string) (logs *peer.SyncBuffer, stop func()) {
	t.Helper()
	logs = &peer.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, logs, logs) }()
	return logs, func() {
		t.Helper()
		cancel()
		select {
		case code := <-done:
			require.Equal(t, 0, code, logs.String())
		case <-time.After(30 * time.Second):
			t.Fatal("the streamer did not stop")
		}
	}
}

// apiAddr waits for the streamer's log to say where its API listens.
func apiAddr(t *testing.T, logs *peer.SyncBuffer) string {
	t.Helper()
	re := regexp.MustCompile(`API listening" url=https?://(127\.0\.0\.1:\d+)/api/v1`)
	var addr string
	require.Eventually(t, func() bool {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	}, 10*time.Second, 10*time.Millisecond, "no API address in the log: %s", logs.String())
	return addr
}
