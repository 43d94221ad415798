package status_test

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/conference/status"
	"github.com/sipcast/sipcast/internal/httpc"
	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/sip"
	"github.com/sipcast/sipcast/sip/siptest"
)

const (
	user     = "operator"
	password = "Op-Pa55word-status"
	key      = "SecretStreamKey2026" // the stream key: never on the page
)

// Headless Chromium (Debian chromium, driven with chromedp) opens the status page behind
// Basic auth with two live calls streaming to nginx-rtmp: the page lists both with their
// codecs and resolution and a bitrate that moves; neither the stream key nor the
// password is anywhere in the page or its JSON; ending one call from the page (with its
// confirmation) sends that call's BYE; a wrong password gets 401. SIPCAST_SCREENSHOT=path
// writes a screenshot (docs/status.png).
func TestInteropStatusPageInChromium(t *testing.T) {
	peer.Serialize(t)
	browser := peer.Require(t, "chromium", "chromium")
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	ng := peer.StartNginx(t, peer.NginxOptions{})
	b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, RecordDir: t.TempDir(),
		StreamURL: ng.URL(key)})
	require.NoError(t, err)
	defer b.Close()
	auth := httpc.NewBasicAuth("status", user, password, nil, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(auth.Wrap("sipcast", http.StripPrefix("/status", status.New(b))))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var calls []*siptest.Call
	var wg sync.WaitGroup
	defer wg.Wait()
	playing, stopPlaying := context.WithCancel(ctx)
	defer stopPlaying()
	for i := range 2 { // each to a stream of its own, as a Call Bridge says in x-cisco-stream
		c, err := siptest.Dial(ctx, b.UA().UDPAddr().String(), clip, siptest.Options{
			Dial: sip.DialOptions{ContactParams: map[string]string{"x-cisco-stream": ng.URL(key + strconv.Itoa(i))}}})
		require.NoError(t, err)
		defer c.Close()
		calls = append(calls, c)
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Loop(playing, time.Minute) }()
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(1400, 500))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	dialogs := make(chan struct{}, 4)
	require.NoError(t, chromedp.Listen(bctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			select {
			case dialogs <- struct{}{}:
			default:
			}
		}
	}))
	wg.Add(1)
	go func() { // confirms "End the call …?" (commands cannot run inside the listener)
		defer wg.Done()
		for {
			select {
			case <-dialogs:
				_, _ = chromedp.Call(bctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			case <-playing.Done():
				return
			}
		}
	}()
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	_, err = chromedp.Call(bctx, network.Enable, network.EnableParams{})
	require.NoError(t, err)
	_, err = chromedp.Call(bctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": basic}})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/status/"), chromedp.WaitVisible(chromedp.CSS(`#calls tr:nth-child(2)`))))

	text := func() string {
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#calls")))
		require.NoError(t, err)
		return s
	}
	rates := regexp.MustCompile(`video: H\.264 1280x720 [0-9.]+ fps, (\d+) kb/s`)
	first := map[string]bool{}
	require.Eventually(t, func() bool {
		s := text()
		m := rates.FindAllStringSubmatch(s, -1)
		if len(m) != 2 {
			return false
		}
		moved := false
		for _, x := range m {
			if v, _ := strconv.Atoi(x[1]); v > 0 && len(first) > 0 && !first[x[1]] {
				moved = true
			}
			first[x[1]] = true
		}
		return moved && strings.Contains(s, "audio: AAC") && strings.Count(s, "publishing") == 2
	}, 30*time.Second, 300*time.Millisecond, "the page: %s", text())

	html, err := chromedp.Run(bctx, chromedp.OuterHTML(chromedp.CSS("html")))
	require.NoError(t, err)
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	if path := os.Getenv("SIPCAST_SCREENSHOT"); path != "" {
		require.NoError(t, os.WriteFile(path, shot, 0o644))
	}
	req, _ := http.NewRequest("GET", srv.URL+"/status/status.json", nil)
	req.SetBasicAuth(user, password)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	js, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, s := range []string{html, string(js)} {
		require.NotContains(t, s, key, "the stream key")
		require.NotContains(t, s, password)
	}
	require.Contains(t, html, "/live/", "the stream URL is shown, its key redacted")

	// End the first call from the page: its BYE reaches the caller.
	ended := calls[0]
	require.NoError(t, chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`#calls tr:nth-child(1) button.end`), chromedp.NodeVisible)))
	select {
	case <-ended.Done():
	case <-calls[1].Done():
		ended = calls[1]
	case <-time.After(20 * time.Second):
		t.Fatal("no BYE after ending a call from the page")
	}
	require.ErrorIs(t, ended.Err(), sip.ErrHangupRemote, "the streamer hung up")
	require.Eventually(t, func() bool { return len(b.Calls()) == 1 }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return strings.Count(text(), "End call") == 1 }, 10*time.Second, 100*time.Millisecond)

	// A wrong password gets 401, page and JSON alike.
	for _, path := range []string{"/status/", "/status/status.json"} {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.SetBasicAuth(user, "wrong")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusUnauthorized, res.StatusCode, path)
	}
	// Ending a call without the page's header (a cross-site form) is refused.
	req, _ = http.NewRequest("POST", srv.URL+"/status/end", strings.NewReader(`{"id":"x"}`))
	req.SetBasicAuth(user, password)
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	stopPlaying()
}
