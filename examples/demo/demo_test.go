package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
)

// The demo as `go run ./examples/demo -duration 8s -out DIR` runs it: it ends by itself,
// and ffprobe finds H.264 and AAC, 8 ± 1 s long, in DIR/stream.flv (what the RTMP server
// received) and in the MP4 under DIR/recordings/.
func TestInteropDemo(t *testing.T) {
	peer.Require(t, "ffprobe", "ffmpeg")
	peer.CheckNoLeaks(t)
	dir := t.TempDir()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, run(ctx, options{duration: 8 * time.Second, out: dir, rtmpAddr: "127.0.0.1:0"}, &out), out.String())
	recs, err := filepath.Glob(filepath.Join(dir, "recordings", "forwardedCalls", "*.mp4"))
	require.NoError(t, err)
	require.Len(t, recs, 1, out.String())
	for _, f := range []string{filepath.Join(dir, "stream.flv"), recs[0]} {
		probe, err := peer.FFprobe(t, time.Minute, f, "-show_packets")
		require.NoError(t, err, f)
		v, a := probe.Stream("video"), probe.Stream("audio")
		require.NotNil(t, v, f)
		require.NotNil(t, a, f)
		require.Equal(t, "h264", v.CodecName, f)
		require.Equal(t, "aac", a.CodecName, f)
		require.Equal(t, 1280, v.Width)
		require.InDelta(t, 8, probe.Duration().Seconds(), 1, "%s\n%s", f, out.String())
		require.InDelta(t, 8*25, v.Frames(), 8*25/8, "video frames in %s", f)
	}
	require.Contains(t, out.String(), "recording finished")
	require.Contains(t, out.String(), "streaming started to rtmp://127.0.0.1")
}
