package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/aac"
	"github.com/sipcast/sipcast/media/rtpsend"
	"github.com/sipcast/sipcast/recording"
	"github.com/sipcast/sipcast/sip"
)

// kill -9 of the streamer mid-recording leaves an MP4 that ffprobe decodes up to within
// 2 s of the kill (recording.MaxFragmentDuration), and Recover names it. The streamer
// runs as a cluster node (-node): the recording is under its own directory of the share.
func TestInteropKillStreamerMidRecording(t *testing.T) {
	peer.Serialize(t)
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is needed to build the streamer")
	}
	bin := filepath.Join(t.TempDir(), "streamer")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	recDir := t.TempDir()
	port := peer.FreePort(t)
	p := peer.Start(t, bin, "-sip-udp", fmt.Sprintf("127.0.0.1:%d", port), "-sip-tcp", "none", "-record-dir", recDir, "-node", "node-1")

	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	ac, err := aac.ParseConfig(clip.AudioConfig)
	require.NoError(t, err)
	caller, err := sip.New(sip.WithUDP("127.0.0.1:0"))
	require.NoError(t, err)
	defer caller.Close()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer conn.Close()
	local := conn.LocalAddr().(*net.UDPAddr)
	offer := rtpsend.SDP(local.IP, local.Port, local.Port, clip.SPS, clip.PPS, clip.AudioConfig, ac.SampleRate, ac.Channels)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	call, err := caller.Dial(ctx, fmt.Sprintf("sip:streamer@127.0.0.1:%d", port), offer, sip.DialOptions{Timeout: 15 * time.Second})
	require.NoError(t, err, "%s", p.Output())
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = call.Hangup(ctx) // the streamer is dead by then: nobody answers
	}()
	sender, err := rtpsend.ForAnswer(conn, call.Answer, clip.SPS, clip.PPS, ac.SampleRate)
	require.NoError(t, err)
	require.NotNil(t, sender.Video)
	// Send 6 s of media; kill the streamer when 5 s have gone out.
	const killAt = 5 * time.Second
	playCtx, stopPlay := context.WithCancel(context.Background())
	defer stopPlay()
	var killedAt time.Duration
	err = sender.Play(playCtx, clip.Interleaved(), clip.Duration, 6*time.Second, func(f *media.Frame) {
		if killedAt == 0 && f.DTS >= killAt {
			p.Signal(syscall.SIGKILL)
			killedAt = f.DTS
			stopPlay()
		}
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Error(t, p.Wait(10*time.Second), "killed")

	partials, err := filepath.Glob(filepath.Join(recDir, "node-1", "forwardedCalls", "*.mp4"+recording.TempSuffix))
	require.NoError(t, err)
	require.Len(t, partials, 1, "the recording in progress, under its temporary name")
	recovered, err := recording.Recover(recDir)
	require.NoError(t, err)
	require.Len(t, recovered, 1)
	_, err = os.Stat(recovered[0])
	require.NoError(t, err)
	probe, err := peer.FFprobe(t, time.Minute, recovered[0], "-show_packets")
	require.NoError(t, err)
	require.NotNil(t, probe.Stream("video"))
	require.NotNil(t, probe.Stream("audio"))
	t.Logf("killed at %v of media; the file decodes %.2f s", killedAt, probe.Duration().Seconds())
	require.Greater(t, probe.Duration(), killedAt-recording.MaxFragmentDuration, "decodable up to within 2 s of the kill")
}
