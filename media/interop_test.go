package media_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media/h264"
	"github.com/sipcast/sipcast/media/rtpaac"
	"github.com/sipcast/sipcast/media/rtph264"
	"github.com/sipcast/sipcast/media/rtplatm"
)

// udpCollector keeps a copy of every datagram that arrives on a loopback port.
type udpCollector struct {
	conn    *net.UDPConn
	mu      sync.Mutex
	packets [][]byte
	done    chan struct{}
}

func collect(t *testing.T) *udpCollector {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	_ = c.SetReadBuffer(4 << 20)
	u := &udpCollector{conn: c, done: make(chan struct{})}
	go func() {
		defer close(u.done)
		buf := make([]byte, 65536)
		for {
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			u.mu.Lock()
			u.packets = append(u.packets, bytes.Clone(buf[:n]))
			u.mu.Unlock()
		}
	}()
	t.Cleanup(u.stop)
	return u
}

func (u *udpCollector) port() int { return u.conn.LocalAddr().(*net.UDPAddr).Port }

func (u *udpCollector) stop() {
	u.conn.Close()
	<-u.done
}

// rtpPackets returns the RTP packets (RTCP, sent to the same port by some peers, skipped).
func (u *udpCollector) rtpPackets(t *testing.T) []*rtp.Packet {
	u.stop()
	var out []*rtp.Packet
	for _, b := range u.packets {
		if len(b) > 1 && b[1] >= 200 && b[1] <= 204 {
			continue
		}
		var p rtp.Packet
		require.NoError(t, p.Unmarshal(b))
		out = append(out, &p)
	}
	return out
}

func fmtpOf(t *testing.T, sd *sdp.SessionDescription, mediaType string) string {
	t.Helper()
	for _, m := range sd.MediaDescriptions {
		if m.MediaName.Media != mediaType {
			continue
		}
		for _, a := range m.Attributes {
			if a.Key == "fmtp" {
				_, v, _ := strings.Cut(a.Value, " ")
				return v
			}
		}
	}
	t.Fatalf("no fmtp for %s", mediaType)
	return ""
}

// TestInteropFFmpegRTPH264AAC: ffmpeg sends the clip as RTP (H.264 packetization mode 1
// and AAC-hbr); the depacketizers yield exactly the source's frames.
func TestInteropFFmpegRTPH264AAC(t *testing.T) {
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	video, audio := collect(t), collect(t)
	sdpFile := filepath.Join(t.TempDir(), "out.sdp")
	proc := peer.Start(t, ffmpeg, "-hide_banner", "-loglevel", "error", "-re",
		"-i", filepath.Join(testmedia.Dir(), "av720p.flv"),
		"-map", "0:v", "-c:v", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "rtp", "-payload_type", "96",
		fmt.Sprintf("rtp://127.0.0.1:%d?pkt_size=1200", video.port()),
		"-map", "0:a", "-c:a", "copy", "-max_delay", "0", "-f", "rtp", "-payload_type", "97",
		fmt.Sprintf("rtp://127.0.0.1:%d", audio.port()),
		"-sdp_file", sdpFile)
	require.NoError(t, proc.Wait(time.Minute), proc.Output())
	raw, err := os.ReadFile(sdpFile)
	require.NoError(t, err)
	var sd sdp.SessionDescription
	require.NoError(t, sd.UnmarshalString(string(raw)))

	// Video: same count, same NAL units (less the parameter sets the bitstream filter
	// repeats in-band before each IDR), keyframes at the same places.
	var vd rtph264.Decoder
	var aus []rtph264.AccessUnit
	for _, p := range video.rtpPackets(t) {
		au, err := vd.Decode(p)
		if err == nil {
			au.Data = bytes.Clone(au.Data)
			aus = append(aus, au)
		}
	}
	src := clip.Video()
	require.Len(t, aus, len(src))
	for i := range src {
		require.Equal(t, src[i].Keyframe, aus[i].Keyframe, "frame %d keyframe flag", i)
		require.Equal(t, stripParamSets(src[i].Data), stripParamSets(aus[i].Data), "frame %d bytes", i)
		// RTP time is presentation time at 90 kHz.
		wantPTS := (src[i].PTS - src[0].PTS).Milliseconds()
		gotPTS := int64(aus[i].Timestamp-aus[0].Timestamp) / 90
		require.InDelta(t, wantPTS, gotPTS, 1, "frame %d PTS", i)
	}

	// Audio: AAC-hbr with the config ffmpeg put in the SDP.
	cfg, err := rtpaac.ParseFMTP(fmtpOf(t, &sd, "audio"))
	require.NoError(t, err)
	require.Equal(t, clip.AudioConfig, cfg.AudioSpecificConfig[:len(clip.AudioConfig)])
	ad := rtpaac.Decoder{Config: cfg}
	var frames [][]byte
	for _, p := range audio.rtpPackets(t) {
		got, _, err := ad.Decode(p)
		if err == nil {
			for _, au := range got {
				frames = append(frames, bytes.Clone(au))
			}
		}
	}
	srcAudio := clip.Audio()
	// ffmpeg's AAC RTP muxer sends each frame when the next one arrives (-max_delay 0) and
	// has no flush at the end (libavformat/rtpenc_aac.c), so the last frame never leaves it.
	srcAudio = srcAudio[:len(srcAudio)-1]
	require.Equal(t, len(srcAudio), len(frames), "audio frame count")
	for i := range srcAudio {
		require.True(t, bytes.Equal(srcAudio[i].Data, frames[i]), "audio frame %d differs (%d vs %d bytes)", i, len(srcAudio[i].Data), len(frames[i]))
	}
}

func stripParamSets(avcc []byte) []byte {
	var out []byte
	for len(avcc) > 0 {
		nalu, rest, err := h264.NextAVCC(avcc)
		if err != nil {
			return append(out, avcc...)
		}
		if t := h264.TypeOf(nalu); t != h264.NALUTypeSPS && t != h264.NALUTypePPS && t != h264.NALUTypeAUD {
			out = h264.AppendAVCC(out, nalu)
		}
		avcc = rest
	}
	return out
}

// TestInteropFFmpegRTPLATM: ffmpeg sends the clip's AAC as MP4A-LATM (cpresent=0, the
// config in the SDP), as a Call Bridge sends to a CMS streamer.
func TestInteropFFmpegRTPLATM(t *testing.T) {
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	audio := collect(t)
	sdpFile := filepath.Join(t.TempDir(), "latm.sdp")
	proc := peer.Start(t, ffmpeg, "-hide_banner", "-loglevel", "error", "-re",
		"-i", filepath.Join(testmedia.Dir(), "av720p.flv"),
		"-map", "0:a", "-c:a", "copy", "-f", "rtp", "-rtpflags", "latm", "-payload_type", "97",
		fmt.Sprintf("rtp://127.0.0.1:%d", audio.port()), "-sdp_file", sdpFile)
	require.NoError(t, proc.Wait(time.Minute), proc.Output())
	raw, err := os.ReadFile(sdpFile)
	require.NoError(t, err)
	var sd sdp.SessionDescription
	require.NoError(t, sd.UnmarshalString(string(raw)))
	cfg, err := rtplatm.ParseFMTP(fmtpOf(t, &sd, "audio"))
	require.NoError(t, err)
	// The clip's AudioSpecificConfig is 5 bytes: AAC-LC 48 kHz stereo plus a backward
	// compatible SBR signal (sync extension 0x2b7, SBR off); ffmpeg's LATM config carries
	// only the first 16 bits.
	require.Equal(t, clip.AudioConfig[:2], cfg.StreamMuxConfig.AudioSpecificConfig)

	d := rtplatm.Decoder{Config: cfg}
	var frames [][]byte
	for _, p := range audio.rtpPackets(t) {
		aus, _, err := d.Decode(p)
		require.NoError(t, err)
		for _, au := range aus {
			frames = append(frames, bytes.Clone(au))
		}
	}
	src := clip.Audio()
	require.Equal(t, len(src), len(frames), "audio frame count")
	for i := range src {
		require.True(t, bytes.Equal(src[i].Data, frames[i]), "frame %d differs", i)
	}
}
