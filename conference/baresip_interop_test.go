package conference_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/rtmp"
	"github.com/sipcast/sipcast/sip"
)

// baresip calls the Bridge over TLS with mandatory SRTP (RTP/SAVP, SDES): the call is
// answered encrypted, its H.264 is decrypted and streamed, and ffprobe decodes the
// stream the RTMP server recorded; its PCMU audio is streamed transcoded to AAC.
func TestInteropBaresipTLSMandatorySRTP(t *testing.T) {
	peer.CheckNoLeaks(t)
	baresip := peer.Require(t, "baresip", "baresip-core")
	peer.RequireFile(t, "/usr/lib/baresip/modules/avcodec.so", "baresip-ffmpeg")
	peer.RequireFile(t, "/usr/lib/baresip/modules/srtp.so", "baresip-core")
	ca := peer.NewCA(t)
	rec := &peer.FileRecorder{Dir: t.TempDir()}
	srv, err := rtmp.NewServer(rtmp.WithRecorder(rec.Open))
	require.NoError(t, err)
	defer srv.Close()
	addr, err := srv.Listen("127.0.0.1:0")
	require.NoError(t, err)
	var logs peer.SyncBuffer
	b, err := conference.New(conference.Config{
		SIP:       []sip.Option{sip.WithTLS(sip.TLSConfig{Addr: "127.0.0.1:0", CertFile: ca.CertFile, KeyFile: ca.KeyFile, TrustFile: ca.CAFile})},
		StreamURL: "rtmp://" + addr.String() + "/live/baresip", Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, err)
	defer b.Close()
	dir := peer.BaresipConfig(t, peer.BaresipOptions{CA: ca, Modules: []string{"srtp.so"},
		Account: "regint=0;audio_codecs=PCMU;video_codecs=H264;mediaenc=srtp-mand"})
	target := fmt.Sprintf("sip:streamer@%s;transport=tls", b.UA().TLSAddr())
	p := peer.Start(t, baresip, "-f", dir, "-v", "-n", "127.0.0.1", "-e", "/dial "+target, "-t", "60")
	t.Cleanup(func() { p.Kill() })
	const wantVideo = 30 // 2 s at 15 fps
	require.Eventually(t, func() bool {
		c := b.Calls()
		return len(c) == 1 && c[0].VideoFrames >= wantVideo && c[0].Publisher.VideoFrames >= wantVideo
	}, 40*time.Second, 50*time.Millisecond, "video decrypted and streamed: %+v\n%s\n%s", b.Calls(), p.Output(), logs.String())
	require.NoError(t, b.Close())
	p.Kill()
	files := rec.List()
	require.NotEmpty(t, files)
	probe, err := peer.FFprobe(t, time.Minute, files[0], "-show_packets")
	require.NoError(t, err)
	v := probe.Stream("video")
	require.NotNil(t, v)
	require.Equal(t, 320, v.Width)
	require.GreaterOrEqual(t, v.Frames(), wantVideo-15, "frames decoded (the stream starts at a keyframe)")
	a := probe.Stream("audio")
	require.NotNil(t, a, "baresip's PCMU, transcoded")
	require.Equal(t, "aac", a.CodecName)
	require.Positive(t, a.Frames())
	require.False(t, bytes.Contains([]byte(logs.String()), []byte("SRTP packet rejected")), "SRTP failures")
	require.Contains(t, p.Output(), "srtp: video: SRTP is Enabled", "baresip says the video was encrypted")
}
