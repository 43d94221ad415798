package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
)

// The FLV counter, fed the clip file in small and odd-sized writes, counts exactly its
// coded frames (what testmedia reads with the FLV reader).
func TestFLVCounter(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testmedia.Dir(), "av720p.flv"))
	require.NoError(t, err)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	for _, chunk := range []int{1, 7, 1000, len(b)} {
		var n atomic.Uint64
		c := &flvCounter{frames: &n}
		for p := b; len(p) > 0; {
			k := min(chunk, len(p))
			_, _ = c.Write(p[:k])
			p = p[k:]
		}
		require.Equal(t, uint64(clip.VideoFrames+clip.AudioFrames), n.Load(), "chunks of %d", chunk)
	}
}

// The schedule pads the video to the bitrate asked for, and the whole loop holds every
// frame of the clip.
func TestSchedule(t *testing.T) {
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	s, err := schedule(clip, 2_000_000, false)
	require.NoError(t, err)
	var videoBytes, frames int
	for _, p := range s.packets {
		if p.video {
			videoBytes += len(p.data) - 12
		}
		if p.frame {
			frames++
		}
	}
	rate := float64(videoBytes) * 8 / clip.Duration.Seconds()
	require.InDelta(t, 2_000_000, rate, 100_000, "video bit/s")
	require.Equal(t, clip.VideoFrames+clip.AudioFrames, frames, "a marker per frame")
}

// Two calls for 2 s through the real streamer binary, with the clip's AAC and with PCMU
// the streamer transcodes, and two calls the relay binary places: the machine-readable
// line, frames out, none dropped.
func TestInteropLoadgenSmoke(t *testing.T) {
	peer.Serialize(t)
	peer.CheckNoLeaks(t)
	bin := filepath.Join(t.TempDir(), "streamer")
	build := exec.Command("go", "build", "-o", bin, "github.com/sipcast/sipcast/examples/streamer")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, audio := range []string{"aac", "pcmu"} {
		t.Run(audio, func(t *testing.T) { smoke(t, options{streamer: bin, audio: audio}) })
	}
	// The relay placing the calls to a phone (PCMU and H.264): sipp replaying captures,
	// and loadgen's own UA.
	t.Run("relay-sipp", func(t *testing.T) {
		peer.Require(t, "sipp", "sip-tester")
		smoke(t, options{relay: "build", callee: "sipp"})
	})
	t.Run("relay-loadgen", func(t *testing.T) { smoke(t, options{relay: "build", callee: "loadgen"}) })
}

func smoke(t *testing.T, o options) {
	var buf bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o.streams, o.duration, o.bitrate, o.senders = 2, 2*time.Second, 2_000_000, 1
	o.json = filepath.Join(t.TempDir(), "result.json")
	require.NoError(t, run(ctx, o, &buf))
	t.Log(buf.String())
	m := regexp.MustCompile(`(?m)^loadgen: streams=2 seconds=2 cpu_ms_per_stream_second=([0-9.]+) rss_mb_per_stream=([0-9.]+) frames_out=(\d+) frames_dropped=(\d+)$`).FindStringSubmatch(buf.String())
	require.NotNil(t, m, buf.String())
	cpu, _ := strconv.ParseFloat(m[1], 64)
	require.Positive(t, cpu)
	framesOut, _ := strconv.Atoi(m[3])
	// 2 streams × 2 s × (25 video + 46.9 audio frames per second: 1024 samples at 48 kHz,
	// the clip's and the transcoded PCMU's), give or take the window's edges.
	require.InDelta(t, 2*2*(25+46.9), framesOut, 40)
	require.Equal(t, "0", m[4], "no frame dropped")
	// -json says the same.
	b, err := os.ReadFile(o.json)
	require.NoError(t, err)
	var j jsonResult
	require.NoError(t, json.Unmarshal(b, &j))
	require.Equal(t, 2, j.Streams)
	require.EqualValues(t, framesOut, j.FramesOut)
	require.Zero(t, j.FramesDropped)
	require.InDelta(t, cpu, j.CPUmsPerStreamSecond, 0.001)
	require.Equal(t, o.relay != "", j.Relay)
	require.Nil(t, j.Ratio, "no ffmpeg figures without -compare-ffmpeg")
}
