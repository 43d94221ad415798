package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/conference/relay"
	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/rtmp"
	"github.com/sipcast/sipcast/sip"
)

var tone = peer.Goertzel

// The page, in Debian's Chromium driven from Go, starts a relayed call with
// registration: the relay registers as alice with Kamailio (digest), calls bob through
// it (proxy authentication, Record-Route), and Kamailio routes bob to baresip, which
// answers with a 440 Hz tone (PCMU) and H.264. The page shows the call connected and
// streaming; nginx-rtmp records H.264 and AAC whose audio is the tone; keys pressed on
// the page's keypad reach baresip as RFC 4733 events (its log says which); Terminate
// ends the call (baresip sees the BYE) and the stream, and the relay unregisters. Alice
// with a wrong password fails with Kamailio's 403, and a callee Kamailio does not know
// with its 404, and carol (sipp, through Kamailio) busy with her 486, each said on the
// page; a call whose RTMP server is down connects and the page says its stream retries
// and why, then that it publishes once a server listens there, retries while it
// restarts and publishes again, the call up throughout. The SIP passwords
// and the stream key are nowhere in the page, the answers or the log.
// SIPCAST_SCREENSHOT=path writes a screenshot of the page mid-call (docs/relay.png).
func TestInteropRelayPageInChromium(t *testing.T) {
	peer.Serialize(t)
	peer.CheckNoLeaks(t)
	browser := peer.Require(t, "chromium", "chromium")
	baresip := peer.Require(t, "baresip", "baresip-core")
	peer.RequireFile(t, "/usr/lib/baresip/modules/avcodec.so", "baresip-ffmpeg")
	const alicePW, key = "alice-Secret-9", "relay-stream-key"
	bobPort, carolPort := peer.FreePort(t), peer.FreeUDPPorts(t, 1)
	kam := peer.StartKamailio(t, map[string]string{"alice": alicePW}, map[string]string{
		"bob": fmt.Sprintf("sip:bs@127.0.0.1:%d", bobPort), "carol": fmt.Sprintf("sip:carol@127.0.0.1:%d", carolPort)})
	// carol is sipp, busy: 180 then 486.
	sipp := peer.Require(t, "sipp", "sip-tester")
	carol := peer.Start(t, sipp, "-sf", filepath.Join("..", "..", "sip", "testdata", "uas_busy.xml"), "-i", "127.0.0.1", "-p", fmt.Sprint(carolPort),
		"-m", "1", "-nostdin", "-timeout", "120s")
	t.Cleanup(func() { carol.Kill() })
	ng := peer.StartNginx(t, peer.NginxOptions{})
	dir := peer.BaresipConfig(t, peer.BaresipOptions{Listen: bobPort, Account: "regint=0;answermode=auto;audio_codecs=PCMU;video_codecs=H264"})
	bob := peer.Start(t, baresip, "-f", dir, "-v", "-n", "127.0.0.1", "-t", "120")
	t.Cleanup(func() { bob.Kill() })
	require.Eventually(t, func() bool { return strings.Contains(bob.Output(), "baresip is ready") }, 20*time.Second, 20*time.Millisecond, "%s", bob.Output())

	var logs peer.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := relay.New(relay.Config{Bridge: conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0"), sip.WithLogger(log)}, Logger: log},
		Keys: []string{apiKey}, RTMPHosts: []string{"127.0.0.1"}, SIPDomains: []string{"127.0.0.1"}, Log: log})
	require.NoError(t, err)
	defer svc.Close()
	f := &fixture{svc: svc}
	f.api = httptestServer(t, svc.Handler())

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(1500, 700))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	set := func(name, value string) chromedp.Action[chromedp.Void] {
		return chromedp.SendKeys(chromedp.CSS(`#startup input[name=`+name+`]`), value)
	}
	rtmpApp := strings.TrimSuffix(ng.URL(""), "/")
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(f.api.URL+"/"),
		chromedp.SendKeys(chromedp.CSS("#apiKey"), apiKey),
		set("callId", "web1"), set("callee", "bob"), set("sipDomain", "127.0.0.1"),
		chromedp.SetValue(chromedp.CSS(`#startup input[name=sipPort]`), fmt.Sprint(kam.Port)),
		set("sipLogin", "alice"), set("sipPassword", alicePW), chromedp.Click(chromedp.CSS(`#startup input[name=sipRegisterRequired]`)),
		set("rtmpUrl", rtmpApp), set("rtmpStream", key), set("toStream", "lobby"),
		chromedp.Click(chromedp.CSS("#start"))))
	row := func() string {
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#calls")))
		require.NoError(t, err)
		m, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#message")))
		require.NoError(t, err)
		return s + " | message: " + m
	}
	require.Eventually(t, func() bool {
		s := row()
		return strings.Contains(s, "ESTABLISHED (registration REGISTERED)") && strings.Contains(s, "PUBLISHING") && strings.Contains(s, "kbit/s")
	}, 60*time.Second, 200*time.Millisecond, "the page: %s\nrelay: %s\nkamailio: %s", row(), logs.String(), kam.Output())

	for _, k := range []string{"1", "5", "#"} {
		require.NoError(t, chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`#calls tr[data-call-id=web1] button[data-key="`+k+`"]`), chromedp.NodeVisible)))
		require.Eventually(t, func() bool { return strings.Contains(bob.Output(), "received event: '"+k+"' (end=1)") }, 10*time.Second, 20*time.Millisecond,
			"key %s: %s", k, bob.Output())
	}
	html, err := chromedp.Run(bctx, chromedp.OuterHTML(chromedp.CSS("html")))
	require.NoError(t, err)
	if path := os.Getenv("SIPCAST_SCREENSHOT"); path != "" {
		shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, shot, 0o644))
	}
	require.NoError(t, chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`#calls tr[data-call-id=web1] button.terminate`), chromedp.NodeVisible)))
	require.Eventually(t, func() bool { return strings.Contains(row(), "terminated through the API") }, 20*time.Second, 100*time.Millisecond, "%s", row())
	require.Eventually(t, func() bool { return strings.Contains(bob.Output(), "terminated") }, 20*time.Second, 20*time.Millisecond, "%s\nkamailio: %s", bob.Output(), kam.Output())
	require.Eventually(t, func() bool { return f.find(t, "web1").Registration == "UNREGISTERED" }, 20*time.Second, 20*time.Millisecond)

	// Alice with a wrong password: Kamailio's 403, on the page and in find.
	code, body := f.post(t, "startup", apiKey, map[string]any{"callId": "web2", "callee": "bob", "sipDomain": "127.0.0.1", "sipPort": kam.Port,
		"sipLogin": "alice", "sipPassword": "not-" + alicePW, "sipRegisterRequired": true, "rtmpUrl": rtmpApp, "rtmpStream": key + "2"})
	require.Equal(t, http.StatusOK, code, body)
	require.Eventually(t, func() bool { return f.find(t, "web2").Status == relay.StatusFailed }, 20*time.Second, 20*time.Millisecond)
	failed := f.find(t, "web2")
	require.Equal(t, 403, failed.SIPStatus, "%+v", failed)
	require.Equal(t, "registration refused by the SIP server (403 Forbidden)", failed.EndReason)
	require.Eventually(t, func() bool { return strings.Contains(row(), "registration refused by the SIP server (403 Forbidden)") }, 10*time.Second, 100*time.Millisecond)

	// A callee Kamailio does not know: its 404, said on the page.
	code, body = f.post(t, "startup", apiKey, map[string]any{"callId": "web3", "callee": "nobody", "sipDomain": "127.0.0.1", "sipPort": kam.Port,
		"sipLogin": "alice", "sipPassword": alicePW, "rtmpUrl": rtmpApp, "rtmpStream": key + "3"})
	require.Equal(t, http.StatusOK, code, body)
	require.Eventually(t, func() bool { return strings.Contains(row(), "no such callee (404 Not Found)") }, 20*time.Second, 100*time.Millisecond, "%s", row())
	require.Equal(t, 404, f.find(t, "web3").SIPStatus)

	// carol (sipp) is busy: its 486, through Kamailio, said on the page.
	code, body = f.post(t, "startup", apiKey, map[string]any{"callId": "web4", "callee": "carol", "sipDomain": "127.0.0.1", "sipPort": kam.Port,
		"sipLogin": "alice", "sipPassword": alicePW, "rtmpUrl": rtmpApp, "rtmpStream": key + "4"})
	require.Equal(t, http.StatusOK, code, body)
	require.Eventually(t, func() bool { return strings.Contains(row(), "the callee is busy (486 Busy Here)") }, 20*time.Second, 100*time.Millisecond,
		"%s\nsipp: %s", row(), carol.Output())
	require.Equal(t, 486, f.find(t, "web4").SIPStatus)

	// The RTMP server is down when a call to bob starts: the call connects, and the page
	// says the stream retries and why. Terminate on the page ends it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := ln.Addr().String()
	require.NoError(t, ln.Close())
	code, body = f.post(t, "startup", apiKey, map[string]any{"callId": "web5", "callee": "bob", "sipDomain": "127.0.0.1", "sipPort": kam.Port,
		"sipLogin": "alice", "sipPassword": alicePW, "rtmpUrl": "rtmp://" + down + "/live", "rtmpStream": key + "5"})
	require.Equal(t, http.StatusOK, code, body)
	require.Eventually(t, func() bool {
		s := row()
		i := strings.Index(s, "web5")
		return i >= 0 && strings.Contains(s[i:], "ESTABLISHED") && strings.Contains(s[i:], "RETRYING: ") && strings.Contains(s[i:], "RTMP server refused the connection")
	}, 30*time.Second, 100*time.Millisecond, "%s", row())
	// A server comes up there, and restarts mid-call: the page follows the stream
	// (PUBLISHING, RETRYING with the reason, PUBLISHING), the call up throughout.
	web5 := func(want ...string) func() bool {
		return func() bool {
			s := row()
			i := strings.Index(s, "web5")
			if i < 0 {
				return false
			}
			for _, w := range want {
				if !strings.Contains(s[i:], w) {
					return false
				}
			}
			return true
		}
	}
	serve := func() *rtmp.Server {
		srv, err := rtmp.NewServer()
		require.NoError(t, err)
		_, err = srv.Listen(down)
		require.NoError(t, err)
		return srv
	}
	srv := serve()
	require.Eventually(t, web5("ESTABLISHED", "PUBLISHING"), 30*time.Second, 100*time.Millisecond, "%s", row())
	require.NoError(t, srv.Close())
	require.Eventually(t, web5("ESTABLISHED", "RETRYING: "), 30*time.Second, 100*time.Millisecond, "%s", row())
	srv = serve()
	defer srv.Close()
	require.Eventually(t, web5("ESTABLISHED", "PUBLISHING"), 30*time.Second, 100*time.Millisecond, "%s", row())
	require.NoError(t, chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`#calls tr[data-call-id=web5] button.terminate`), chromedp.NodeVisible)))
	require.Eventually(t, func() bool { return f.find(t, "web5").Status == relay.StatusFinished }, 20*time.Second, 20*time.Millisecond)

	// What nginx recorded: H.264 and AAC, the audio baresip's 440 Hz tone.
	require.Eventually(t, func() bool { return len(ng.Recordings()) >= 1 }, 10*time.Second, 10*time.Millisecond)
	rec := ng.Recordings()[0]
	probe, err := peer.FFprobe(t, time.Minute, rec, "-show_packets")
	require.NoError(t, err)
	require.NotNil(t, probe.Stream("video"), rec)
	require.Equal(t, "h264", probe.Stream("video").CodecName)
	require.NotNil(t, probe.Stream("audio"), rec)
	require.Equal(t, "aac", probe.Stream("audio").CodecName)
	pcm, err := peer.DecodeAudio(t, rec, 48000, 1)
	require.NoError(t, err)
	require.Greater(t, len(pcm), 48000, "a second of audio at least")
	at440 := tone(pcm, 48000, 440)
	for _, other := range []float64{300, 600, 1000, 2000} {
		require.Greater(t, at440, 100*tone(pcm, 48000, other), "440 Hz over %v Hz: the callee's tone", other)
	}

	_, findAll := f.post(t, "find_all", apiKey, "")
	var all []relay.Call
	require.NoError(t, json.Unmarshal([]byte(findAll), &all))
	for _, out := range []string{html, findAll, logs.String()} {
		for _, secret := range []string{alicePW, key} {
			require.NotContains(t, out, secret)
		}
	}
}
