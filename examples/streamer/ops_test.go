package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/sip/siptest"
)

// get returns an operations endpoint's status code and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

// logged waits for the streamer's log to match re and returns the first group.
func logged(t *testing.T, logs interface{ String() string }, re *regexp.Regexp) string {
	t.Helper()
	var m []string
	require.Eventually(t, func() bool { m = re.FindStringSubmatch(logs.String()); return m != nil }, 20*time.Second, 10*time.Millisecond,
		"%s not in the log: %s", re, logs.String())
	return m[1]
}

// /healthz answers 200; /readyz 200 while the streamer takes calls and 503 at its call
// limit, and 200 again once the call ended.
func TestReadyzAtCallLimit(t *testing.T) {
	_, _ = apiSetup(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	logs, stop := runStreamer(t, "-sip-udp", "127.0.0.1:0", "-sip-tcp", "none", "-call-limit", "1", "-metrics", "127.0.0.1:0")
	defer stop()
	ops := "http://" + logged(t, logs, regexp.MustCompile(`operations listening" url=http://(127\.0\.0\.1:\d+)/`))
	sipAddr := logged(t, logs, regexp.MustCompile(`streamer ready" udp=(127\.0\.0\.1:\d+)`))
	code, _ := get(t, ops+"/healthz")
	require.Equal(t, http.StatusOK, code)
	code, _ = get(t, ops+"/readyz")
	require.Equal(t, http.StatusOK, code)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	call, err := siptest.Dial(ctx, sipAddr, clip, siptest.Options{})
	require.NoError(t, err)
	defer call.Close()
	code, body := get(t, ops+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "call limit")
	code, _ = get(t, ops+"/healthz")
	require.Equal(t, http.StatusOK, code, "alive all the same")
	require.NoError(t, call.Hangup(ctx))
	require.Eventually(t, func() bool { c, _ := get(t, ops+"/readyz"); return c == http.StatusOK }, 20*time.Second, 10*time.Millisecond)
}

// SIGTERM drains the streamer (a separate process): /readyz turns 503 and new calls
// are refused with 503, the call in progress goes on, and when it ends the streamer
// exits 0 by itself.
func TestDrainOnSIGTERM(t *testing.T) {
	peer.Serialize(t)
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is needed to build the streamer")
	}
	bin := filepath.Join(t.TempDir(), "streamer")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	sipPort, opsPort := peer.FreePort(t), peer.FreePort(t)
	p := peer.Start(t, bin, "-sip-udp", fmt.Sprintf("127.0.0.1:%d", sipPort), "-sip-tcp", "none", "-metrics", fmt.Sprintf("127.0.0.1:%d", opsPort))
	ops := fmt.Sprintf("http://127.0.0.1:%d", opsPort)
	require.NoError(t, peer.WaitListening(fmt.Sprintf("127.0.0.1:%d", opsPort), 20*time.Second), p.Output())
	sipAddr := fmt.Sprintf("127.0.0.1:%d", sipPort)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	call, err := siptest.Dial(ctx, sipAddr, clip, siptest.Options{})
	require.NoError(t, err, p.Output())
	defer call.Close()
	code, _ := get(t, ops+"/readyz")
	require.Equal(t, http.StatusOK, code)

	p.Send(syscall.SIGTERM)
	require.Eventually(t, func() bool { c, _ := get(t, ops+"/readyz"); return c == http.StatusServiceUnavailable }, 20*time.Second, 10*time.Millisecond, "%s", p.Output())
	_, body := get(t, ops+"/readyz")
	require.Contains(t, body, "draining")
	_, err = siptest.Dial(ctx, sipAddr, clip, siptest.Options{})
	require.Error(t, err, "a new call while draining")
	require.Contains(t, err.Error(), "503")
	require.NoError(t, call.Play(ctx), "the call in progress goes on")
	select {
	case <-p.Done():
		t.Fatalf("the streamer stopped with a call in progress: %s", p.Output())
	default:
	}
	require.NoError(t, call.Hangup(ctx))
	require.NoError(t, p.Wait(30*time.Second), "the streamer exits once drained: %s", p.Output())
	require.Contains(t, p.Output(), "drained")
}

// -log-format json logs one JSON object per line, call events included; -check refuses
// an unknown format or level.
func TestLogFormatJSON(t *testing.T) {
	_, _ = apiSetup(t)
	var out bytes.Buffer
	require.Equal(t, 1, run(context.Background(), []string{"-check", "-log-format", "xml", "-log-level", "loud"}, &out, &out))
	require.Contains(t, out.String(), `FAILURE: log-format "xml"`)
	require.Contains(t, out.String(), `FAILURE: log-level "loud"`)

	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	logs, stop := runStreamer(t, "-sip-udp", "127.0.0.1:0", "-sip-tcp", "none", "-log-format", "json")
	sipAddr := logged(t, logs, regexp.MustCompile(`"msg":"streamer ready","udp":"(127\.0\.0\.1:\d+)"`))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	call, err := siptest.Dial(ctx, sipAddr, clip, siptest.Options{})
	require.NoError(t, err)
	require.NoError(t, call.Hangup(ctx))
	_ = call.Close()
	logged(t, logs, regexp.MustCompile(`("msg":"call [^"]+: call ended)`))
	stop()
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var v map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &v), "not JSON: %s", line)
		require.Contains(t, v, "level")
	}
}
