package metrics_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/conference/metrics"
	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/sip"
	"github.com/sipcast/sipcast/sip/siptest"
	"github.com/sipcast/sipcast/uploader"
	"github.com/sipcast/sipcast/vbrick"
	"github.com/sipcast/sipcast/vbrick/revtest"
)

// scrape reads the metrics and checks them with promtool (Debian prometheus): the
// exposition format, names and units as Prometheus' linter wants them. It returns the
// samples by series ("name{labels}").
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	res, err := http.Get(url)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	promtool := peer.Require(t, "promtool", "prometheus")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "promtool check metrics: %s", out)
	samples := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		samples[line[:i]] = v
	}
	return samples
}

// A call streams to nginx-rtmp and is recorded, then ends, and its recording is
// uploaded to a Rev emulator: the scraped metrics pass promtool and hold the series a
// dashboard needs (calls, streams by state, bytes and frames sent, drops, reconnects,
// recording bytes, uploads by outcome, the Go runtime and the process), and the
// counters do not go back when the call's parts finish.
func TestMetrics(t *testing.T) {
	peer.Serialize(t)
	peer.CheckNoLeaks(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	ng := peer.StartNginx(t, peer.NginxOptions{})
	recDir := t.TempDir()
	b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, RecordDir: recDir, StreamURL: ng.URL("metrics")})
	require.NoError(t, err)
	defer b.Close()
	rs := revtest.New(revtest.WithUser("uploader", "pw"), revtest.ProcessingPolls(0))
	hs := httptest.NewServer(rs)
	defer hs.Close()
	rev, err := vbrick.New(hs.URL, vbrick.WithUserPassword("uploader", "pw"))
	require.NoError(t, err)
	defer rev.Close(context.Background())
	up, err := uploader.New(uploader.Config{Dir: recDir, Rev: rev, Uploader: "uploader"})
	require.NoError(t, err)
	reg := metrics.NewRegistry(metrics.NewBridgeCollector(b), metrics.NewUploaderCollector(up))
	srv := httptest.NewServer(metrics.Handler(reg))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	call, err := siptest.Dial(ctx, b.UA().UDPAddr().String(), clip, siptest.Options{})
	require.NoError(t, err)
	defer call.Close()
	require.NoError(t, call.Play(ctx))
	require.Eventually(t, func() bool {
		c := b.Calls()
		return len(c) == 1 && c[0].Publisher.VideoFrames > 0 && c[0].Recorder.Bytes > 0
	}, 20*time.Second, 10*time.Millisecond)
	during := scrape(t, srv.URL)
	require.Equal(t, 1.0, during["sipcast_calls"])
	require.Equal(t, 1.0, during[`sipcast_streams{state="publishing"}`])
	for _, s := range []string{`sipcast_streams{state="connecting"}`, `sipcast_streams{state="retrying"}`, "sipcast_stream_reconnects_total",
		`sipcast_stream_frames_dropped_total{kind="video"}`, `sipcast_stream_frames_dropped_total{kind="audio"}`, "sipcast_recordings",
		`sipcast_recordings_finished_total{outcome="failed"}`, `sipcast_uploads_total{outcome="uploaded"}`, `sipcast_uploads_total{outcome="failed"}`,
		`sipcast_rtp_packets_lost_total{kind="video"}`, "sipcast_keyframe_requests_total", "go_goroutines", "process_cpu_seconds_total"} {
		_, ok := during[s]
		require.True(t, ok, "series %s", s)
	}
	for _, s := range []string{"sipcast_stream_sent_bytes_total", `sipcast_stream_frames_sent_total{kind="video"}`,
		`sipcast_frames_received_total{kind="video"}`, `sipcast_frames_received_total{kind="audio"}`, `sipcast_rtp_packets_received_total{kind="video"}`} {
		require.Positive(t, during[s], "series %s", s)
	}
	for s := range during {
		require.NotContains(t, s, "call=", "no per-call series by default")
	}

	require.NoError(t, call.Hangup(ctx))
	require.Eventually(t, func() bool { return len(b.Calls()) == 0 }, 20*time.Second, 10*time.Millisecond)
	require.NoError(t, up.Scan(ctx))
	after := scrape(t, srv.URL)
	require.Equal(t, 0.0, after["sipcast_calls"])
	require.Equal(t, 1.0, after["sipcast_calls_completed_total"])
	require.Equal(t, 1.0, after[`sipcast_recordings_finished_total{outcome="ok"}`])
	require.Equal(t, 1.0, after[`sipcast_uploads_total{outcome="uploaded"}`])
	require.Positive(t, after["sipcast_recording_bytes_total"])
	for s, v := range during {
		if strings.HasSuffix(strings.SplitN(s, "{", 2)[0], "_total") && strings.HasPrefix(s, "sipcast_") {
			require.GreaterOrEqual(t, after[s], v, "counter %s went back", s)
		}
	}
}
