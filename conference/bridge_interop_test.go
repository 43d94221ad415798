package conference_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media/aac"
	"github.com/sipcast/sipcast/mixer/opusdec"
	"github.com/sipcast/sipcast/sip"
)

// callThrough has sipp place a Call Bridge-shaped call (scenario) whose x-cisco-stream
// points at nginx-rtmp, has ffmpeg send clipFile's tracks as RTP to the answered ports
// (loops times over), runs during (when set) while ffmpeg sends, hangs up when every frame
// is in, and returns nginx's recordings (one per publish), ours and the events.
func callThrough(t *testing.T, scenario, clipFile string, clip *testmedia.Clip, loops int, during func(*peer.Nginx, *eventLog)) (flvs []string, mp4 string, events []string) {
	return callThroughWith(t, callOpts{scenario: scenario, clipFile: clipFile, clip: clip, loops: loops, during: during})
}

// callOpts: tcp has sipp call over TCP; srtpKey (base64 key and salt) makes the call
// encrypted: the scenario gets it as [crypto] and ffmpeg sends SRTP with it.
type callOpts struct {
	scenario, clipFile string
	clip               *testmedia.Clip
	loops              int
	during             func(*peer.Nginx, *eventLog)
	tcp                bool
	srtpKey            string
	// audioArgs replace ffmpeg's audio output options (AAC copied as mpeg4-generic).
	audioArgs []string

	// defaultURL gives the Bridge nginx's stream as its default (Config.StreamURL), for
	// scenarios that carry no x-cisco-stream.
	defaultURL bool
}

func callThroughWith(t *testing.T, o callOpts) (flvs []string, mp4 string, events []string) {
	scenario, clipFile, clip, loops, during := o.scenario, o.clipFile, o.clip, o.loops, o.during
	sipp := peer.Require(t, "sipp", "sip-tester")
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	ng := peer.StartNginx(t, peer.NginxOptions{})
	recDir := t.TempDir()
	var ev eventLog
	sipOpts := []sip.Option{sip.WithUDP("127.0.0.1:0")}
	if o.tcp {
		sipOpts = append(sipOpts, sip.WithTCP("127.0.0.1:0"))
	}
	cfg := conference.Config{SIP: sipOpts, RecordDir: recDir, SpaceID: func(*sip.Call) string { return "77" }, Events: ev.add}
	if o.defaultURL {
		cfg.StreamURL = ng.URL("SpaceStream77")
	}
	b, err := conference.New(cfg)
	require.NoError(t, err)
	defer b.Close()
	ac, err := aac.ParseConfig(clip.AudioConfig)
	require.NoError(t, err)
	target := b.UA().UDPAddr().String()
	sippArgs := []string{"-sf", filepath.Join("testdata", scenario),
		"-key", "stream", ng.URL("SpaceStream77"), "-key", "config", hex.EncodeToString(clip.AudioConfig),
		"-key", "channels", strconv.Itoa(ac.Channels),
		"-i", "127.0.0.1", "-p", fmt.Sprint(peer.FreePort(t)), "-mp", fmt.Sprint(peer.FreeUDPPorts(t, 4)),
		"-m", "1", "-timeout", "120s", "-timeout_error", "-nostdin"}
	if o.tcp {
		target = b.UA().TCPAddr().String()
		sippArgs = append(sippArgs, "-t", "t1")
	}
	if o.srtpKey != "" {
		sippArgs = append(sippArgs, "-key", "crypto", o.srtpKey)
	}
	p := peer.Start(t, sipp, append([]string{target}, sippArgs...)...)
	video := clip.VideoFrames > 0
	var call conference.CallInfo
	require.Eventually(t, func() bool {
		calls := b.Calls()
		if len(calls) == 1 && calls[0].MediaPorts["audio"] > 0 && (!video || calls[0].MediaPorts["video"] > 0) {
			call = calls[0]
			return true
		}
		return false
	}, 20*time.Second, 10*time.Millisecond, "sipp's call did not arrive: %s", p.Output())
	input := clipFile
	if !filepath.IsAbs(input) {
		input = filepath.Join(testmedia.Dir(), clipFile)
	}
	if loops > 1 {
		// ffmpeg's RTP output of a -stream_loop input sends the video only once (seen
		// with ffmpeg 5.1), so the looped clip is made first, timestamps carried on.
		looped := filepath.Join(t.TempDir(), "looped.flv")
		mk := peer.Start(t, ffmpeg, "-hide_banner", "-loglevel", "error", "-stream_loop", strconv.Itoa(loops-1), "-i", input, "-c", "copy", "-f", "flv", looped)
		require.NoError(t, mk.Wait(time.Minute), mk.Output())
		input = looped
	}
	args := []string{"-hide_banner", "-loglevel", "error", "-re", "-i", input}
	scheme := "rtp"
	var srtp []string
	if o.srtpKey != "" {
		scheme, srtp = "srtp", []string{"-srtp_out_suite", "AES_CM_128_HMAC_SHA1_80", "-srtp_out_params", o.srtpKey}
	}
	if video {
		vp := call.MediaPorts["video"]
		args = append(args, "-map", "0:v", "-c:v", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "rtp", "-payload_type", "96")
		args = append(args, srtp...)
		args = append(args, fmt.Sprintf("%s://127.0.0.1:%d?rtcpport=%d&pkt_size=1200", scheme, vp, vp+1))
	}
	ap := call.MediaPorts["audio"]
	if o.audioArgs != nil {
		args = append(args, o.audioArgs...)
	} else {
		args = append(args, "-map", "0:a", "-c:a", "copy", "-max_delay", "0", "-f", "rtp", "-payload_type", "97")
	}
	args = append(args, srtp...)
	args = append(args, fmt.Sprintf("%s://127.0.0.1:%d?rtcpport=%d", scheme, ap, ap+1))
	ff := peer.Start(t, ffmpeg, args...)
	if during != nil {
		during(ng, &ev)
	}
	require.NoError(t, ff.Wait(time.Minute), ff.Output())
	// The last AAC frame never leaves ffmpeg's RTP muxer (see media's interop tests).
	require.Eventually(t, func() bool {
		c := b.Calls()
		return len(c) == 1 && c[0].VideoFrames >= uint64(loops*clip.VideoFrames) && c[0].AudioFrames >= uint64(loops*clip.AudioFrames-1)
	}, 10*time.Second, 10*time.Millisecond, "frames: %+v", b.Calls())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, b.EndCall(ctx, call.ID))
	require.NoError(t, p.Wait(time.Minute), "sipp: %s", p.Output())
	require.Eventually(t, func() bool { return ev.has(conference.EventCallEnded) }, 20*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return len(ng.Recordings()) >= 1 }, 10*time.Second, 10*time.Millisecond)
	for _, e := range ev.all() {
		events = append(events, e.String())
	}
	require.True(t, ev.has(conference.EventStreamingStarted), "%v", events)
	require.True(t, ev.has(conference.EventRecordingFinished), "%v", events)
	mp4s, err := filepath.Glob(filepath.Join(recDir, "spaces", "77", "*.mp4"))
	require.NoError(t, err)
	require.Len(t, mp4s, 1, "%v", events)
	return ng.Recordings(), mp4s[0], events
}

// End to end with peers nobody here wrote: sipp places a Call Bridge-shaped call whose
// x-cisco-stream points at nginx-rtmp, ffmpeg sends the clip's H.264 + AAC as RTP to the
// answered ports; what nginx receives and our recording, read by ffprobe, hold the clip:
// resolution, frame counts within 1%, duration within 0.5 s, audio and video starting
// within 40 ms of each other.
func TestInteropCallBridgeToNginx(t *testing.T) {
	peer.Serialize(t)
	peer.CheckNoLeaks(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	flvs, mp4, _ := callThrough(t, "callbridge_stream.xml", "av720p.flv", clip, 1, nil)
	require.Len(t, flvs, 1)
	for _, f := range []string{flvs[0], mp4} {
		probe, v, a := probeClip(t, f, clip)
		require.Equal(t, 1280, v.Width, f)
		require.Equal(t, 720, v.Height, f)
		require.InDelta(t, clip.Duration.Seconds(), probe.Duration().Seconds(), 0.5, "duration of %s", f)
		offset := probe.StartTime(a.Index) - probe.StartTime(v.Index)
		want := (clip.Audio()[0].PTS - clip.Video()[0].PTS).Seconds()
		t.Logf("%s: %d video, %d audio frames, %.3f s, audio starts %+.0f ms against video (%+.0f ms in the clip)", filepath.Base(f), v.Frames(), a.Frames(), probe.Duration().Seconds(), offset*1000, want*1000)
		// ffmpeg -re paces its two RTP outputs only roughly (its audio has been seen up to
		// 30 ms early against the video) and sends one Sender Report per stream in 4 s:
		// what it sent, not only what we did, is in this number.
		require.InDelta(t, want, offset, 0.040, "audio and video in %s as in the clip", f)
		require.InDelta(t, 0, offset, 0.040, "audio and video start together in %s", f)
	}
}

// An encrypted Call Bridge call, as CMS places it behind an "encrypted" dial plan rule:
// sipp over TCP offers RTP/SAVP audio and video with a=crypto (AES_CM_128_HMAC_SHA1_80)
// and ffmpeg sends SRTP with that key. What nginx-rtmp records and our MP4 have every
// frame (within 1%), decoded by ffprobe.
func TestInteropEncryptedCallBridgeCall(t *testing.T) {
	peer.Serialize(t)
	peer.CheckNoLeaks(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	key := make([]byte, 30)
	_, _ = rand.Read(key)
	flvs, mp4, _ := callThroughWith(t, callOpts{scenario: "callbridge_srtp.xml", clipFile: "av720p.flv", clip: clip, loops: 1,
		tcp: true, srtpKey: base64.StdEncoding.EncodeToString(key)})
	require.Len(t, flvs, 1)
	for _, f := range []string{flvs[0], mp4} {
		probeClip(t, f, clip)
	}
}

// probeClip has ffprobe read f and checks that it holds the clip's video and audio
// frames (within 1%).
func probeClip(t *testing.T, f string, clip *testmedia.Clip) (*peer.Probe, *peer.Stream, *peer.Stream) {
	t.Helper()
	probe, err := peer.FFprobe(t, time.Minute, f, "-show_packets")
	require.NoError(t, err, f)
	v, a := probe.Stream("video"), probe.Stream("audio")
	require.NotNil(t, v, f)
	require.NotNil(t, a, f)
	require.InDelta(t, clip.VideoFrames, v.Frames(), float64(clip.VideoFrames)/100, "video frames of %s", f)
	require.InDelta(t, clip.AudioFrames, a.Frames(), math.Max(float64(clip.AudioFrames)/100, 1), "audio frames of %s", f)
	return probe, v, a
}

// An audio-only call (AAC) makes an audio-only stream and recording: no video track is
// invented.
func TestInteropAudioOnlyCall(t *testing.T) {
	peer.Serialize(t)
	clip, err := testmedia.AudioOnly()
	require.NoError(t, err)
	flvs, mp4, _ := callThrough(t, "callbridge_audio.xml", "audio.flv", clip, 1, nil)
	require.Len(t, flvs, 1)
	for _, f := range []string{flvs[0], mp4} {
		probe, err := peer.FFprobe(t, time.Minute, f, "-show_packets")
		require.NoError(t, err, f)
		require.Nil(t, probe.Stream("video"), "no video in %s", f)
		a := probe.Stream("audio")
		require.NotNil(t, a, f)
		require.Equal(t, "aac", a.CodecName)
		require.InDelta(t, clip.AudioFrames, a.Frames(), math.Max(float64(clip.AudioFrames)/100, 1), "audio frames of %s", f)
		require.InDelta(t, clip.Duration.Seconds(), probe.Duration().Seconds(), 0.5, "duration of %s", f)
	}
}

// nginx is stopped and started twice during a 12-second call: the SIP call stays up,
// streaming resumes each time (events with reasons), the recording has every frame, and
// in every nginx recording DTS never goes backwards.
func TestInteropNginxRestartsMidCall(t *testing.T) {
	peer.Serialize(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	flvs, mp4, events := callThrough(t, "callbridge_stream.xml", "av720p.flv", clip, 3, func(ng *peer.Nginx, ev *eventLog) {
		for i := 1; i <= 2; i++ {
			require.Eventually(t, func() bool { return ev.count(conference.EventStreamingStarted) == i }, 20*time.Second, 10*time.Millisecond)
			ng.Stop()
			require.Eventually(t, func() bool { return ev.has(conference.EventStreamingRetrying) }, 20*time.Second, 10*time.Millisecond)
			ng.Start()
		}
		require.Eventually(t, func() bool { return ev.count(conference.EventStreamingStarted) == 3 }, 20*time.Second, 10*time.Millisecond)
	})
	t.Logf("events:\n%s", strings.Join(events, "\n"))
	// nginx names recordings by the second (record_unique), so publishes within one second
	// share a file: each file, not each publish, is checked.
	require.NotEmpty(t, flvs)
	for _, f := range flvs {
		for _, kind := range []string{"video", "audio"} {
			ts, err := peer.PacketTimes(t, f, kind)
			require.NoError(t, err)
			for i := 1; i < len(ts); i++ {
				require.GreaterOrEqual(t, ts[i], ts[i-1], "%s DTS went backwards in %s at packet %d", kind, f, i)
			}
		}
	}
	probe, err := peer.FFprobe(t, time.Minute, mp4, "-show_packets")
	require.NoError(t, err)
	require.InDelta(t, 3*clip.VideoFrames, probe.Stream("video").Frames(), float64(3*clip.VideoFrames)/100, "the recording has every frame")
	var retrying []string
	for _, e := range events {
		if strings.Contains(e, "streaming retrying") {
			retrying = append(retrying, e)
		}
	}
	require.NotEmpty(t, retrying)
	for _, e := range retrying {
		require.Regexp(t, `\(RTMP connection lost: .+; attempt \d+, next in .+\)`, e, "a retry says why")
		require.Equal(t, 1, strings.Count(e, "RTMP connection lost"), "said once: %s", e)
	}
}

// Softphone-shaped calls: sipp offers PCMU or G.722 (with H.264, and PCMU alone; Opus
// with H.264 in the build tagged opus), with
// no x-cisco-stream (the Bridge streams to its default URL, as examples/streamer
// -stream-url does), and ffmpeg sends the clip's audio in that codec. What nginx-rtmp records and our MP4 carry
// AAC audio for the whole call (H.264 beside it when there is video, nothing invented
// when there is none), decoded by ffmpeg: the caller's audio (a chirp), not silence (it
// used to be a silent track), starting with the picture, its cross-correlation with the
// chirp sent peaking where the stream's timestamps put it.
func TestInteropTranscodedCalls(t *testing.T) {
	peer.Serialize(t)
	peer.CheckNoLeaks(t)
	av, err := testmedia.AV720p()
	require.NoError(t, err)
	audio, err := testmedia.AudioOnly()
	require.NoError(t, err)
	// The caller's audio is a chirp (200 Hz to 3 kHz over the clip's 4 s, within every
	// codec's band), which matches itself at one lag only. It takes the place of the
	// clip's audio in one file, so that ffmpeg sends both from one timeline.
	const rate = 48000
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	chirp := func(t float64) float64 { return 0.3 * math.Sin(2*math.Pi*(200*t+350*t*t)) }
	withChirp := func(clip string) string {
		out := filepath.Join(t.TempDir(), strings.TrimSuffix(clip, ".flv")+".nut")
		args := []string{"-hide_banner", "-loglevel", "error", "-i", filepath.Join(testmedia.Dir(), clip),
			"-f", "lavfi", "-i", fmt.Sprintf("aevalsrc=0.3*sin(2*PI*(200*t+350*t*t)):s=%d:d=4", rate)}
		if clip == "audio.flv" {
			args = append(args, "-map", "1:a")
		} else {
			args = append(args, "-map", "0:v", "-map", "1:a", "-c:v", "copy")
		}
		p := peer.Start(t, ffmpeg, append(args, "-c:a", "pcm_s16le", out)...)
		require.NoError(t, p.Wait(time.Minute), p.Output())
		return out
	}
	avChirp, audioChirp := withChirp("av720p.flv"), withChirp("audio.flv")
	pcmu := []string{"-map", "0:a", "-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1", "-f", "rtp", "-payload_type", "0"}
	for _, c := range []struct {
		name, scenario, file string
		clip                 *testmedia.Clip
		args                 []string
	}{
		{"PCMU and H.264", "softphone_pcmu.xml", avChirp, av, pcmu},
		{"G.722 and H.264", "softphone_g722.xml", avChirp, av,
			[]string{"-map", "0:a", "-c:a", "g722", "-ar", "16000", "-ac", "1", "-f", "rtp", "-payload_type", "9"}},
		{"PCMU alone", "softphone_pcmu_audio.xml", audioChirp, audio, pcmu},
		{"G.722 alone", "softphone_g722_audio.xml", audioChirp, audio,
			[]string{"-map", "0:a", "-c:a", "g722", "-ar", "16000", "-ac", "1", "-f", "rtp", "-payload_type", "9"}},
		{"Opus and H.264", "softphone_opus.xml", avChirp, av,
			[]string{"-map", "0:a", "-c:a", "libopus", "-ar", "48000", "-ac", "1", "-b:a", "48k", "-f", "rtp", "-payload_type", "111"}},
	} {
		if strings.HasPrefix(c.name, "Opus") && !opusdec.Available {
			t.Logf("%s: this build decodes no Opus (the opus build tag, with libopus, does; CI runs it)", c.name)
			continue
		}
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			// Where the first picture lies on the file's timeline, after the chirp's start.
			var firstPicture float64
			if c.clip.VideoFrames > 0 {
				fileProbe, err := peer.FFprobe(t, time.Minute, c.file, "-show_packets")
				require.NoError(t, err)
				firstPicture = fileProbe.StartTime(fileProbe.Stream("video").Index) - fileProbe.StartTime(fileProbe.Stream("audio").Index)
			}
			flvs, mp4, _ := callThroughWith(t, callOpts{scenario: c.scenario, clipFile: c.file, clip: c.clip, loops: 1, audioArgs: c.args, defaultURL: true})
			require.Len(t, flvs, 1)
			for _, f := range []string{flvs[0], mp4} {
				probe, err := peer.FFprobe(t, time.Minute, f, "-show_packets")
				require.NoError(t, err)
				v, a := probe.Stream("video"), probe.Stream("audio")
				require.NotNil(t, a, f)
				require.Equal(t, "aac", a.CodecName, f)
				require.InDelta(t, c.clip.Duration.Seconds(), probe.Duration().Seconds(), 0.5, "duration of %s", f)
				offset := 0.0
				if c.clip.VideoFrames > 0 {
					require.NotNil(t, v, f)
					require.Equal(t, "h264", v.CodecName, f)
					offset = probe.StartTime(a.Index) - probe.StartTime(v.Index)
					require.InDelta(t, 0, offset, 0.060, "audio starts with the picture in %s", f)
				} else {
					require.Nil(t, v, "no video invented in %s", f)
				}
				spans, err := peer.Silences(t, f)
				require.NoError(t, err)
				var silent float64
				for _, s := range spans {
					silent += math.Min(s.End, probe.Duration().Seconds()+probe.StartTime(a.Index)) - s.Start
				}
				// The decoded audio against the chirp: its first sample should be the
				// chirp at offset + firstPicture (the stream's audio starts offset after
				// its first picture, which ffmpeg sent firstPicture after the chirp began).
				dec, err := peer.DecodeAudio(t, f, rate, 1)
				require.NoError(t, err)
				want := offset + firstPicture
				if c.clip.VideoFrames == 0 && strings.HasPrefix(c.name, "G.722") {
					// An audio-only stream starts with its first sample, which G.722's 22
					// samples of delay (the Transcoder's compensation) put before the
					// first packet's time: it is the chirp before its start.
					want = -22.0 / 16000
				}
				best, lag := math.Inf(-1), 0.0
				for d := -3000; d <= 3000; d++ { // ±62.5 ms around it
					at := want + float64(d)/rate
					var x float64
					for j := rate / 2; j < rate && j < len(dec); j++ {
						x += float64(dec[j]) * chirp(at+float64(j)/rate)
					}
					if x > best {
						best, lag = x, at
					}
				}
				t.Logf("%s: %d audio frames, %.2f s, audio %+.0f ms against video, %.2f s silent; the chirp matches at %+.1f ms (expected %+.1f)",
					filepath.Base(f), a.Frames(), probe.Duration().Seconds(), offset*1000, silent, lag*1000, want*1000)
				require.Less(t, silent, 0.3, "the caller's audio, not silence, in %s: %v", f, spans)
				// Alone, the audio is where it was sent to the sample (measured: 0.0 ms
				// off). Beside video, the lag also holds the A/V sync that ffmpeg's Sender
				// Reports give: measured 21 to 27 ms before the file's (ffmpeg sends the
				// picture that much early, or we place it so; the A/V tolerance above
				// holds either), and held to 40 ms.
				tolerance := 0.040
				if c.clip.VideoFrames == 0 {
					tolerance = 0.0005
				}
				require.InDelta(t, want, lag, tolerance, "the audio plays where it was sent in %s", f)
			}
		})
	}
}
