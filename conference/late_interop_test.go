package conference_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/aac"
	"github.com/sipcast/sipcast/media/rtpsend"
	"github.com/sipcast/sipcast/sip"
	"github.com/sipcast/sipcast/sip/siptest"
)

// sendCall calls a Bridge that streams to nginx and records, sends frames (paced in real
// time from the first one's DTS) with rtpsend, hangs up, and returns nginx's recording,
// ours and the events.
func sendCall(t *testing.T, clip *testmedia.Clip, frames []media.Frame, cfg conference.Config) (flv, mp4 string, events []string) {
	t.Helper()
	var wantVideo uint64 // the frames from the first keyframe on: the session drops those before
	for _, f := range frames {
		if f.Codec == media.CodecH264 && (f.Keyframe || wantVideo > 0) {
			wantVideo++
		}
	}
	ng := peer.StartNginx(t, peer.NginxOptions{})
	recDir := t.TempDir()
	var ev eventLog
	cfg.SIP = []sip.Option{sip.WithUDP("127.0.0.1:0")}
	cfg.RecordDir, cfg.StreamURL, cfg.Events = recDir, ng.URL("late"), ev.add
	b, err := conference.New(cfg)
	require.NoError(t, err)
	defer b.Close()

	var video, audio bool // offer what is sent
	for _, f := range frames {
		video, audio = video || f.Codec == media.CodecH264, audio || f.Codec != media.CodecH264
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	call, _, sender := dialBridge(ctx, t, b, clip, video, audio)
	// Play paces by DTS from its start: shift the frames so that the first goes at once.
	first := frames[0].DTS
	shifted := make([]media.Frame, len(frames))
	for i, f := range frames {
		f.DTS -= first
		f.PTS -= first
		shifted[i] = f
	}
	var sentVideo, sentAudio uint64
	require.NoError(t, sender.Play(ctx, shifted, 0, 0, func(f *media.Frame) {
		if f.Codec == media.CodecH264 {
			sentVideo++
		} else {
			sentAudio++
		}
	}))
	// The last AAC frame may stay in the session's reorder window; video frames before
	// the first keyframe are dropped by the session.
	require.Eventually(t, func() bool {
		c := b.Calls()
		return len(c) == 1 && c[0].AudioFrames+1 >= sentAudio && c[0].VideoFrames >= wantVideo
	}, 10*time.Second, 10*time.Millisecond, "frames: %+v", b.Calls())
	require.NoError(t, call.Hangup(ctx))
	require.Eventually(t, func() bool { return ev.has(conference.EventCallEnded) }, 20*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return len(ng.Recordings()) == 1 }, 10*time.Second, 10*time.Millisecond)
	for _, e := range ev.all() {
		events = append(events, e.String())
	}
	mp4s, err := filepath.Glob(filepath.Join(recDir, "forwardedCalls", "*.mp4"))
	require.NoError(t, err)
	require.Len(t, mp4s, 1, "%v", events)
	return ng.Recordings()[0], mp4s[0], events
}

// dialBridge calls b from a new UA on loopback, offering the clip's video and/or audio,
// and returns the call, the media socket and a sender for the answer. All are closed at
// the end of the test.
func dialBridge(ctx context.Context, t *testing.T, b *conference.Bridge, clip *testmedia.Clip, video, audio bool) (*sip.OutboundCall, *net.UDPConn, *rtpsend.Sender) {
	t.Helper()
	return dialBridgeWith(ctx, t, b, clip, dialOpts{video: video, audio: audio})
}

// dialOpts: user is the Request-URI's user part (default "stream"); edit changes the
// offer before it is sent (SRTP lines, rtcp-mux).
type dialOpts struct {
	video, audio bool
	user         string
	edit         func(offer string) string
	contact      map[string]string // Contact parameters (x-cisco-stream)
}

func dialBridgeWith(ctx context.Context, t *testing.T, b *conference.Bridge, clip *testmedia.Clip, o dialOpts) (*sip.OutboundCall, *net.UDPConn, *rtpsend.Sender) {
	t.Helper()
	call, err := siptest.Dial(ctx, b.UA().UDPAddr().String(), clip, siptest.Options{NoVideo: !o.video, NoAudio: !o.audio,
		User: o.user, EditOffer: o.edit, Dial: sip.DialOptions{ContactParams: o.contact}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = call.Close() })
	return call.OutboundCall, call.Conn, call.Sender
}

// trackFrom keeps the frames of one kind only from at on; the other kind is kept whole.
func trackFrom(clip *testmedia.Clip, late media.Codec, at time.Duration) []media.Frame {
	var out []media.Frame
	for _, f := range clip.Interleaved() {
		if f.Codec == late && f.DTS < at {
			continue
		}
		out = append(out, f)
	}
	return out
}

// checkStart asserts a file starts playable: the first video packet is a keyframe, and
// audio and video start within 40 ms of each other. It returns the probe.
func checkStart(t *testing.T, f string) *peer.Probe {
	t.Helper()
	probe, err := peer.FFprobe(t, time.Minute, f, "-show_packets")
	require.NoError(t, err, f)
	v, a := probe.Stream("video"), probe.Stream("audio")
	require.NotNil(t, v, f)
	require.NotNil(t, a, f)
	pk, ok := probe.FirstPacket(v.Index)
	require.True(t, ok)
	require.Equal(t, byte('K'), pk.Flags[0], "%s starts with a keyframe", f)
	offset := probe.StartTime(a.Index) - probe.StartTime(v.Index)
	t.Logf("%s: %d video, %d audio frames, audio starts %+.0f ms against video", filepath.Base(f), v.Frames(), a.Frames(), offset*1000)
	require.InDelta(t, 0, offset, 0.040, "audio and video start together in %s", f)
	return probe
}

// The audio arrives 1.5 s after the video starts: the stream and the recording start
// with the first keyframe and silence, and the audio, when it comes, is where it belongs
// — ffmpeg finds the silence ending within 40 ms of the first real audio frame's time.
func TestInteropAudioArrivesLate(t *testing.T) {
	peer.Serialize(t)
	peer.CheckNoLeaks(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	const late = 1500 * time.Millisecond
	frames := trackFrom(clip, media.CodecAAC, late)
	var firstAudio time.Duration
	for _, f := range frames {
		if f.Codec == media.CodecAAC {
			firstAudio = f.PTS
			break
		}
	}
	flv, mp4, events := sendCall(t, clip, frames, conference.Config{})
	for _, f := range []string{flv, mp4} {
		probe := checkStart(t, f)
		v := probe.Stream("video")
		require.InDelta(t, clip.VideoFrames, v.Frames(), float64(clip.VideoFrames)/100, "every video frame in %s", f)
		silences, err := peer.Silences(t, f)
		require.NoError(t, err)
		require.NotEmpty(t, silences, "silence before the audio in %s", f)
		onset := silences[0].End - probe.StartTime(v.Index)
		want := (firstAudio - clip.Frames[0].PTS).Seconds()
		t.Logf("%s: silence %+v, the audio begins %.3f s after the video (sent at %.3f s)", filepath.Base(f), silences, onset, want)
		require.InDelta(t, want, onset, 0.040, "the late audio keeps its place in %s", f)
		require.Len(t, silences, 1, "one silence, at the start, in %s", f)
	}
	t.Logf("events: %v", events)
}

// The video arrives 2 s after the audio (an endpoint starts its video with a keyframe:
// the clip's at 2 s): the stream and the recording start at that keyframe with audio
// from the same instant, nothing invented before it.
func TestInteropVideoArrivesLate(t *testing.T) {
	peer.Serialize(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	frames := trackFrom(clip, media.CodecH264, 2*time.Second)
	var firstKey time.Duration
	for _, f := range frames {
		if f.Codec == media.CodecH264 && f.Keyframe {
			firstKey = f.DTS
			break
		}
	}
	flv, mp4, _ := sendCall(t, clip, frames, conference.Config{})
	for _, f := range []string{flv, mp4} {
		probe := checkStart(t, f)
		wantVideo := 0
		for _, fr := range clip.Frames {
			if fr.Codec == media.CodecH264 && fr.DTS >= firstKey {
				wantVideo++
			}
		}
		require.InDelta(t, wantVideo, probe.Stream("video").Frames(), 1, "video from the first keyframe in %s", f)
		require.InDelta(t, (clip.Duration - firstKey).Seconds(), probe.Duration().Seconds(), 0.1, "duration of %s", f)
		silences, err := peer.Silences(t, f)
		require.NoError(t, err)
		require.Empty(t, silences, "no silence made up in %s", f)
	}
}

// A video-only call gets a silent AAC track (players and YouTube want audio) that runs
// the length of the video; with NoSilence it stays video-only.
func TestInteropVideoOnlyCallGetsSilence(t *testing.T) {
	peer.Serialize(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	var video []media.Frame
	for _, f := range clip.Frames {
		if f.Codec == media.CodecH264 {
			video = append(video, f)
		}
	}
	for _, noSilence := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoSilence=%v", noSilence), func(t *testing.T) {
			flv, mp4, _ := sendCall(t, clip, video, conference.Config{NoSilence: noSilence})
			for _, f := range []string{flv, mp4} {
				probe, err := peer.FFprobe(t, time.Minute, f, "-show_packets")
				require.NoError(t, err, f)
				v, a := probe.Stream("video"), probe.Stream("audio")
				require.NotNil(t, v)
				require.Equal(t, clip.VideoFrames, v.Frames(), f)
				if noSilence {
					// nginx's recordings always announce audio in their FLV header.
					require.True(t, a == nil || a.Frames() == 0, "no audio in %s", f)
					continue
				}
				require.NotNil(t, a, "a silent track in %s", f)
				require.Equal(t, "aac", a.CodecName)
				require.InDelta(t, 0, probe.StartTime(a.Index)-probe.StartTime(v.Index), 0.040, f)
				// 100 frames of 25 fps video: 4 s of 48 kHz audio, 187.5 frames.
				shown := time.Duration(clip.VideoFrames) * 40 * time.Millisecond
				require.InDelta(t, shown.Seconds()*48000/aac.SamplesPerFrame, a.Frames(), 3, "audio as long as the video in %s", f)
				silences, err := peer.Silences(t, f)
				require.NoError(t, err)
				require.Len(t, silences, 1)
			}
		})
	}
}

// A call without x-cisco-stream whose caller sends the stream URL in an RTCP APP packet
// (as the Call Bridge may): the stream goes there, not to the default URL, and nginx gets
// a stream ffprobe decodes.
func TestInteropStreamURLFromRTCPApp(t *testing.T) {
	peer.Serialize(t)
	peer.CheckNoLeaks(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	ng := peer.StartNginx(t, peer.NginxOptions{})
	var ev eventLog
	b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")},
		StreamURL: ng.URL("default"), Events: ev.add})
	require.NoError(t, err)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	call, conn, sender := dialBridge(ctx, t, b, clip, true, true)
	// A name of 12 characters or more keeps its last four in the redacted URLs that
	// CallInfo and events carry, which tells it from the default stream.
	data := []byte(ng.URL("fromapp-via-rtcp") + "\x00")
	for len(data)%4 != 0 {
		data = append(data, 0)
	}
	app, err := (&rtcp.ApplicationDefined{SubType: 1, SSRC: 7, Name: "CISC", Data: data}).Marshal()
	require.NoError(t, err)
	_, err = conn.WriteToUDP(app, sender.Video.RTCP)
	require.NoError(t, err)
	require.NoError(t, sender.Play(ctx, clip.Interleaved(), 0, 0, nil))
	require.Eventually(t, func() bool {
		c := b.Calls()
		return len(c) == 1 && strings.HasSuffix(c[0].URL, "/live/****rtcp") && c[0].VideoFrames >= uint64(clip.VideoFrames)
	}, 10*time.Second, 10*time.Millisecond, "streaming to the APP packet's URL")
	require.NoError(t, call.Hangup(ctx))
	require.Eventually(t, func() bool { return ev.has(conference.EventCallEnded) }, 20*time.Second, 10*time.Millisecond)
	var got string
	require.Eventually(t, func() bool {
		for _, f := range ng.Recordings() {
			if strings.HasPrefix(filepath.Base(f), "fromapp") {
				got = f
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond)
	probe, err := peer.FFprobe(t, time.Minute, got, "-show_packets")
	require.NoError(t, err)
	require.NotNil(t, probe.Stream("video"))
	require.Positive(t, probe.Stream("video").Frames())
	var last string
	for _, e := range ev.all() {
		if e.Type == conference.EventStreamingStarted {
			last = e.URL
		}
	}
	require.True(t, strings.HasSuffix(last, "/live/****rtcp"), "the last stream started is the APP packet's: %v", ev.all())
}
