package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func freeTCP(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// slowloris sends part of a request's headers and returns how the connection ended: the
// server must close it (its read-header timeout); our own deadline only bounds the test.
func slowloris(t *testing.T, addr, path string) error {
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nX-Slow: ", path, addr)
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(time.Minute)))
	_, err = io.ReadAll(c)
	return err
}

// The streamer's HTTP servers (the CMS API and metrics) against hostile clients: a
// slowloris on each is cut off at the read-header timeout; 1,000 failed logins from one
// source are slowed (429 after the first few) and never accepted, not even with the right
// password during the lockout; metrics need the API credentials and show no Call-ID.
func TestHostileHTTP(t *testing.T) {
	pw, pwFile := apiSetup(t)
	metrics := freeTCP(t)
	logs, stop := runStreamer(t, "-sip-udp", "127.0.0.1:0", "-sip-tcp", "none", "-record-dir", t.TempDir(),
		"-api", "127.0.0.1:0", "-api-insecure", "-api-user", "tms", "-api-password-file", pwFile, "-metrics", metrics)
	defer func() {
		stop()
		require.NotContains(t, logs.String(), pw)
		require.NotContains(t, logs.String(), "Wr0ng-guess")
	}()
	api := apiAddr(t, logs)
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", metrics)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)

	// Slowloris on both servers at once.
	cut := make(chan error, 2)
	go func() { cut <- slowloris(t, api, "/api/v1/system/status") }()
	go func() { cut <- slowloris(t, metrics, "/metrics") }()
	for range 2 {
		err := <-cut
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server kept a slowloris connection for a minute")
	}

	get := func(addr, path, user, pass string) *http.Response {
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		require.NoError(t, err)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	counts := map[int]int{}
	for i := 0; i < 1000; i++ {
		counts[get(api, "/api/v1/system/status", "tms", "Wr0ng-guess").StatusCode]++
	}
	t.Logf("1,000 failed logins answered: %v", counts)
	require.Zero(t, counts[200], "a wrong password was accepted")
	require.LessOrEqual(t, counts[401], 20, "failures are not slowed")
	require.GreaterOrEqual(t, counts[429], 980)
	resp := get(api, "/api/v1/system/status", "tms", pw)
	require.Equal(t, 429, resp.StatusCode, "the right password during the lockout")
	require.NotEmpty(t, resp.Header.Get("Retry-After"))

	require.Equal(t, 401, get(metrics, "/metrics", "", "").StatusCode, "metrics without credentials")
	// The metrics server throttles on its own: its first login is accepted.
	req, _ := http.NewRequest(http.MethodGet, "http://"+metrics+"/metrics", nil)
	req.SetBasicAuth("tms", pw)
	mr, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer mr.Body.Close()
	require.Equal(t, 200, mr.StatusCode)
	sc := bufio.NewScanner(mr.Body)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	require.Contains(t, lines, "sipcast_calls 0")
	for _, l := range lines {
		require.False(t, strings.Contains(l, "call="), "a Call-ID label by default: %s", l)
	}
}
