package sip

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
)

func TestRedactMessage(t *testing.T) {
	in := "INVITE sip:b@h SIP/2.0\r\n" +
		"Authorization: Digest username=\"alice\", realm=\"r\", nonce=\"n\", response=\"6629fae49393a05397450978507c4ef1\"\r\n" +
		"Proxy-Authorization: Digest username=\"alice\", response=\"abc\"\r\n" +
		"Contact: <sip:a@h>;x-cisco-stream=\"rtmp://broadcast:Sup3rS3cret@10.0.0.1/live/s\"\r\n\r\n" +
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj|2^20|1:32\r\n"
	out := RedactMessage(in)
	for _, secret := range []string{"6629fae4", `response="abc"`, "Sup3rS3cret", "d0RmdmcmVCspeEc3", "broadcast"} {
		require.NotContains(t, out, secret)
	}
	require.Contains(t, out, "Authorization: Digest REDACTED")
	require.Contains(t, out, `x-cisco-stream="rtmp://10.0.0.1/live/****"`, "credentials and stream key removed")
	require.Contains(t, out, "INVITE sip:b@h SIP/2.0", "the rest of the message stays readable")
}

// With tracing on, the messages on the UA's listener are logged and no stream URL
// credential appears in any line (Authorization values are covered by TestRedactMessage:
// requests sipgo sends from its own client sockets are not traced yet).
func TestTraceNeverLogsSecrets(t *testing.T) {
	var logs peer.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	in, _ := streamer(t, WithTrace(), WithLogger(logger))
	p := runSipp(t, in, "-sf", filepath.Join("testdata", "callbridge_uac.xml"))
	require.NoError(t, p.Wait(time.Minute), p.Output())

	out := logs.String()
	require.Contains(t, out, "sip recv")
	require.Contains(t, out, "sip send")
	require.Contains(t, out, "x-cisco-stream=", "the INVITE was traced")
	require.Contains(t, out, "rtmp://127.0.0.1/live/****am77")
	require.NotContains(t, out, "SpaceStream77", "the stream key in the trace")
	require.False(t, strings.Contains(out, "broadcast:broadcast@"), "stream URL credentials in the trace")
}
