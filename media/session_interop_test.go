package media_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media"
)

type frameLog struct {
	mu     sync.Mutex
	frames []media.Frame
}

func (l *frameLog) add(f *media.Frame) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := *f
	c.Data = bytes.Clone(f.Data)
	l.frames = append(l.frames, c)
}

func (l *frameLog) get() []media.Frame {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]media.Frame(nil), l.frames...)
}

// TestInteropSessionFFmpeg: ffmpeg sends the clip's H.264 and AAC as two RTP streams with
// RTCP; two sessions sharing one clock (one per m-line) yield the source's frames, with
// audio and video on one timeline as in the source.
func TestInteropSessionFFmpeg(t *testing.T) {
	peer.Serialize(t)
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	vs, as, vlog, alog := avSessions(t)
	vrtp, vrtcp := vs.LocalPorts()
	artp, artcp := as.LocalPorts()

	// The SDP comes first, as it would in an offer: a dry run to a throwaway port writes it.
	sdpFile := filepath.Join(t.TempDir(), "s.sdp")
	args := func(vrtp, vrtcp, artp, artcp int, extra ...string) []string {
		return append([]string{"-hide_banner", "-loglevel", "error", "-re", "-i", filepath.Join(testmedia.Dir(), "av720p.flv"),
			"-map", "0:v", "-c:v", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "rtp", "-payload_type", "96",
			fmt.Sprintf("rtp://127.0.0.1:%d?rtcpport=%d&pkt_size=1200", vrtp, vrtcp),
			"-map", "0:a", "-c:a", "copy", "-max_delay", "0", "-f", "rtp", "-payload_type", "97",
			fmt.Sprintf("rtp://127.0.0.1:%d?rtcpport=%d", artp, artcp),
			"-sdp_file", sdpFile}, extra...)
	}
	sink := collect(t)
	dry := peer.Start(t, ffmpeg, args(sink.port(), sink.port(), sink.port(), sink.port(), "-t", "0")...)
	require.NoError(t, dry.Wait(time.Minute), dry.Output())
	raw, err := os.ReadFile(sdpFile)
	require.NoError(t, err)
	var sd sdp.SessionDescription
	require.NoError(t, sd.UnmarshalString(string(raw)))
	require.NoError(t, vs.AddTrack(media.TrackConfig{PayloadType: 96, Encoding: media.EncodingH264, ClockRate: 90000, FMTP: fmtpOf(t, &sd, "video")}))
	require.NoError(t, as.AddTrack(media.TrackConfig{PayloadType: 97, Encoding: media.EncodingMPEG4Generic, ClockRate: 48000, FMTP: fmtpOf(t, &sd, "audio")}))
	vs.Start()
	as.Start()

	proc := peer.Start(t, ffmpeg, args(vrtp, vrtcp, artp, artcp)...)
	require.NoError(t, proc.Wait(time.Minute), proc.Output())
	// The jitter buffers release what is left within their delay; wait for the count.
	require.Eventually(t, func() bool { return len(vlog.get()) >= clip.VideoFrames }, 5*time.Second, 20*time.Millisecond, "video frames: %d, stats %+v", len(vlog.get()), vs.Stats())
	require.Eventually(t, func() bool { return len(alog.get()) >= clip.AudioFrames-1 }, 5*time.Second, 20*time.Millisecond, "audio frames: %d, stats %+v", len(alog.get()), as.Stats())

	srcV, srcA := clip.Video(), clip.Audio()
	gotV, gotA := vlog.get(), alog.get()
	require.Equal(t, len(srcV), len(gotV), "video frames")
	for i := range srcV {
		require.Equal(t, srcV[i].Keyframe, gotV[i].Keyframe, "video frame %d", i)
		require.Equal(t, stripParamSets(srcV[i].Data), stripParamSets(gotV[i].Data), "video frame %d", i)
		if i > 0 {
			require.GreaterOrEqual(t, gotV[i].DTS, gotV[i-1].DTS, "DTS never goes backwards")
		}
		require.LessOrEqual(t, gotV[i].DTS, gotV[i].PTS)
	}
	// The last AAC frame never leaves ffmpeg's muxer (see TestInteropFFmpegRTPH264AAC).
	require.Equal(t, len(srcA)-1, len(gotA), "audio frames")
	for i := range gotA {
		require.True(t, bytes.Equal(srcA[i].Data, gotA[i].Data), "audio frame %d", i)
	}
	// One timeline: audio and video keep the source's relationship. ffmpeg's Sender
	// Reports anchor each stream's RTP base at its first send while the first packet
	// carries base + its first PTS (libavformat/rtpenc.c), 59 ms for this audio and 80 ms
	// for this video; the Clock finds them inconsistent with the streams and keeps arrival
	// time (MaxSenderReportSkew). What remains (41 ms measured) comes from -re pacing the
	// B-frame video by decode time, which RTP does not carry, and from the machine: ffmpeg
	// runs in real time, so a loaded CI machine moves the two streams' first arrivals
	// (51 ms seen once under -race). The bound is therefore a gross one (a frame's
	// misplacement of either track, an ignored offset, a wrong clock rate all exceed it);
	// the Clock's own precision is proven deterministically in clock_test.go. Within
	// the call the offset does not move once the first Sender Report has been judged (the switch
	// from arrival time may step once): that is checked tightly.
	mid := len(gotA) / 2
	offsetMid := gotA[mid].PTS - gotV[0].PTS - (srcA[mid].PTS - srcV[0].PTS)
	for _, i := range []int{0, len(gotA) / 2, len(gotA) - 1} {
		want := srcA[i].PTS - srcV[0].PTS
		got := gotA[i].PTS - gotV[0].PTS
		require.InDelta(t, want.Seconds(), got.Seconds(), lipSyncGross.Seconds(), "audio frame %d against video", i)
		if i > 0 {
			require.InDelta(t, offsetMid.Seconds(), (got - want).Seconds(), 0.003, "audio frame %d: the A/V offset drifted within the call", i)
		}
	}
	// Within a track, once the first Sender Report has been applied (the switch from
	// arrival time may step once, by ffmpeg's skew), timing is exact to the millisecond
	// rounding of the FLV source.
	const refV, refA = 10, 20
	for i := refV; i < len(gotV); i++ {
		require.InDelta(t, (srcV[i].PTS - srcV[refV].PTS).Seconds(), (gotV[i].PTS - gotV[refV].PTS).Seconds(), 0.002, "video frame %d PTS", i)
	}
	for i := refA; i < len(gotA); i++ {
		require.InDelta(t, (srcA[i].PTS - srcA[refA].PTS).Seconds(), (gotA[i].PTS - gotA[refA].PTS).Seconds(), 0.002, "audio frame %d PTS", i)
	}
}

// TestInteropSessionSRTP: ffmpeg sends the clip's H.264 over SRTP (SDES, AES_CM_128_HMAC_SHA1_80);
// the session decrypts it and yields the source's frames.
func TestInteropSessionSRTP(t *testing.T) {
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	key := make([]byte, 30)
	for i := range key {
		key[i] = byte(i * 7)
	}
	inline := base64.StdEncoding.EncodeToString(key)
	var vlog frameLog
	s, err := media.NewSession(media.WithLocalIP([]byte{127, 0, 0, 1}), media.WithFrames(vlog.add),
		media.WithSRTP("AES_CM_128_HMAC_SHA1_80", "inline:"+inline))
	require.NoError(t, err)
	defer s.Close()
	vrtp, vrtcp := s.LocalPorts()
	sps, pps := clip.SPS, clip.PPS
	fmtp := "packetization-mode=1; sprop-parameter-sets=" + base64.StdEncoding.EncodeToString(sps) + "," + base64.StdEncoding.EncodeToString(pps)
	require.NoError(t, s.AddTrack(media.TrackConfig{PayloadType: 96, Encoding: media.EncodingH264, ClockRate: 90000, FMTP: fmtp}))
	s.Start()
	proc := peer.Start(t, ffmpeg, "-hide_banner", "-loglevel", "error", "-re", "-i", filepath.Join(testmedia.Dir(), "av720p.flv"),
		"-map", "0:v", "-c:v", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "rtp", "-payload_type", "96",
		"-srtp_out_suite", "AES_CM_128_HMAC_SHA1_80", "-srtp_out_params", inline,
		fmt.Sprintf("srtp://127.0.0.1:%d?rtcpport=%d&pkt_size=1200", vrtp, vrtcp))
	require.NoError(t, proc.Wait(time.Minute), proc.Output())
	require.Eventually(t, func() bool { return len(vlog.get()) >= clip.VideoFrames }, 5*time.Second, 20*time.Millisecond,
		"frames: %d, stats %+v", len(vlog.get()), s.Stats())
	var n int
	for _, f := range clip.Frames {
		if f.Codec != media.CodecH264 {
			continue
		}
		require.Equal(t, stripParamSets(f.Data), stripParamSets(vlog.get()[n].Data), "frame %d", n)
		n++
	}

	// A session with the wrong key gets nothing.
	key[0]++
	var none frameLog
	bad, err := media.NewSession(media.WithLocalIP([]byte{127, 0, 0, 1}), media.WithFrames(none.add),
		media.WithSRTP("AES_CM_128_HMAC_SHA1_80", base64.StdEncoding.EncodeToString(key)))
	require.NoError(t, err)
	defer bad.Close()
	require.NoError(t, bad.AddTrack(media.TrackConfig{PayloadType: 96, Encoding: media.EncodingH264, ClockRate: 90000, FMTP: fmtp}))
	bad.Start()
	brtp, brtcp := bad.LocalPorts()
	proc = peer.Start(t, ffmpeg, "-hide_banner", "-loglevel", "error", "-re", "-t", "1", "-i", filepath.Join(testmedia.Dir(), "av720p.flv"),
		"-map", "0:v", "-c:v", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "rtp", "-payload_type", "96",
		"-srtp_out_suite", "AES_CM_128_HMAC_SHA1_80", "-srtp_out_params", inline,
		fmt.Sprintf("srtp://127.0.0.1:%d?rtcpport=%d&pkt_size=1200", brtp, brtcp))
	require.NoError(t, proc.Wait(time.Minute), proc.Output())
	require.Zero(t, bad.Stats().Packets, "packets failing authentication are dropped")
	require.Empty(t, none.get())
}

func TestSRTPKeyErrors(t *testing.T) {
	_, err := media.NewSession(media.WithSRTP("F8_128_HMAC_SHA1_80", "inline:AAAA"))
	require.ErrorIs(t, err, media.ErrSRTP)
	_, err = media.NewSession(media.WithSRTP("AES_CM_128_HMAC_SHA1_80", "inline:AAAA"))
	require.ErrorIs(t, err, media.ErrSRTP)
	require.ErrorContains(t, err, "needs 30 bytes")
}

// TestInteropLipSyncLateAudio: ffmpeg sends the clip's video and audio, the audio offset
// to start 1.5 s after the video; the frames come out with that relationship (see the
// bound below).
func TestInteropLipSyncLateAudio(t *testing.T) {
	peer.Serialize(t)
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	vs, as, vlog, alog := avSessions(t)
	vrtp, vrtcp := vs.LocalPorts()
	artp, artcp := as.LocalPorts()
	fmtp := "packetization-mode=1; sprop-parameter-sets=" + base64.StdEncoding.EncodeToString(clip.SPS) + "," + base64.StdEncoding.EncodeToString(clip.PPS)
	require.NoError(t, vs.AddTrack(media.TrackConfig{PayloadType: 96, Encoding: media.EncodingH264, ClockRate: 90000, FMTP: fmtp}))
	require.NoError(t, as.AddTrack(media.TrackConfig{PayloadType: 97, Encoding: media.EncodingMPEG4Generic, ClockRate: 48000,
		FMTP: "streamtype=5; profile-level-id=15; mode=AAC-hbr; config=" + hex.EncodeToString(clip.AudioConfig) + "; sizelength=13; indexlength=3; indexdeltalength=3"}))
	vs.Start()
	as.Start()
	in := filepath.Join(testmedia.Dir(), "av720p.flv")
	proc := peer.Start(t, ffmpeg, "-hide_banner", "-loglevel", "error", "-re", "-i", in, "-itsoffset", "1.5", "-re", "-i", in,
		"-map", "0:v", "-c:v", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "rtp", "-payload_type", "96",
		fmt.Sprintf("rtp://127.0.0.1:%d?rtcpport=%d&pkt_size=1200", vrtp, vrtcp),
		"-map", "1:a", "-c:a", "copy", "-max_delay", "0", "-f", "rtp", "-payload_type", "97",
		fmt.Sprintf("rtp://127.0.0.1:%d?rtcpport=%d", artp, artcp))
	require.NoError(t, proc.Wait(time.Minute), proc.Output())
	require.Eventually(t, func() bool { return len(alog.get()) >= clip.AudioFrames-1 && len(vlog.get()) >= clip.VideoFrames },
		5*time.Second, 20*time.Millisecond, "video %d audio %d", len(vlog.get()), len(alog.get()))

	srcV, srcA := clip.Video(), clip.Audio()
	gotV, gotA := vlog.get(), alog.get()
	// ffmpeg's -re paces its two inputs on separate clocks and delivers this audio 16 to
	// 20 ms early against the file (measured on the raw arrival times), which no receiver
	// can see; trusting ffmpeg's Sender Reports instead would put the audio about 95 ms off
	// (see MaxSenderReportSkew). As in TestInteropSessionFFmpeg, the machine's load adds to
	// that, so the bound is lipSyncGross, and the offset must not drift once the first
	// Sender Report has been judged. The Clock's own 20 ms bound is shown with consistent
	// reports in TestClockLipSyncFromSenderReports and TestClock24HoursDrift.
	const offset = 1500 * time.Millisecond
	offsetMid := gotA[50].PTS - gotV[0].PTS - (srcA[50].PTS + offset - srcV[0].PTS)
	for _, i := range []int{0, 50, len(gotA) - 1} {
		want := srcA[i].PTS + offset - srcV[0].PTS
		got := gotA[i].PTS - gotV[0].PTS
		require.InDelta(t, want.Seconds(), got.Seconds(), lipSyncGross.Seconds(), "audio frame %d against the first video frame", i)
		if i > 0 {
			require.InDelta(t, offsetMid.Seconds(), (got - want).Seconds(), 0.003, "audio frame %d: the A/V offset drifted within the call", i)
		}
	}
}

// lipSyncGross bounds the A/V offset of a real-time ffmpeg sender against its file: what
// ffmpeg's pacing and a loaded machine add (up to about 50 ms seen) stays inside it, a track
// misplaced by a couple of frames or more does not.
const lipSyncGross = 90 * time.Millisecond

// avSessions returns a call's two sessions (video, audio) sharing one clock, with the
// frames they yield; they are closed when the test ends.
func avSessions(t *testing.T) (vs, as *media.Session, vlog, alog *frameLog) {
	clock := media.NewClock(time.Now())
	vlog, alog = &frameLog{}, &frameLog{}
	vs, err := media.NewSession(media.WithLocalIP([]byte{127, 0, 0, 1}), media.WithClock(clock), media.WithFrames(vlog.add))
	require.NoError(t, err)
	t.Cleanup(func() { vs.Close() })
	as, err = media.NewSession(media.WithLocalIP([]byte{127, 0, 0, 1}), media.WithClock(clock), media.WithFrames(alog.add))
	require.NoError(t, err)
	t.Cleanup(func() { as.Close() })
	return vs, as, vlog, alog
}
