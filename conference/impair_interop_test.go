package conference_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/internal/netem"
	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media/aac"
	"github.com/sipcast/sipcast/media/rtpsend"
	"github.com/sipcast/sipcast/sip"
)

// impairSource makes the Call Bridge-shaped source of the impairment tests with ffmpeg:
// 12 s of 1280x720 H.264 at 30 fps, a keyframe every 2 s, no B-frames, about 800 kb/s
// (a P-frame spans about 3 RTP packets of 1200 bytes, a keyframe about 14), and AAC-LC
// 48 kHz stereo. sliced cuts every picture into slices that fit one packet each (x264
// slice-max-size), as endpoints do that send in packetization mode 0 or size their
// slices to the MTU: a lost packet then costs one slice, not the picture.
func impairSource(t *testing.T, dir string, sliced bool) (string, *testmedia.Clip) {
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	name, x264 := "whole.flv", "bframes=0"
	if sliced {
		name, x264 = "sliced.flv", "bframes=0:slice-max-size=1100"
	}
	out := filepath.Join(dir, name)
	p := peer.Start(t, ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "12", "-map", "0:v", "-map", "1:a",
		"-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
		"-x264-params", x264, "-b:v", "800k", "-maxrate", "800k", "-bufsize", "800k", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "64k", "-ac", "2", "-f", "flv", out)
	require.NoError(t, p.Wait(2*time.Minute), p.Output())
	clip, err := testmedia.Load(out)
	require.NoError(t, err)
	return out, clip
}

// impairedRun is one call through the impairment: what sipcast streamed to nginx and
// recorded, what ffmpeg -c copy made of the same impaired RTP, and what the relays did.
type impairedRun struct {
	flv, mp4, copied string
	video, audio     []netem.Record
	call             conference.CallInfo
}

// callImpaired has sipp place a Call Bridge-shaped call to a Bridge that streams to
// nginx-rtmp and records, and ffmpeg send src (which ignores keyframe requests and
// retransmits nothing) through two netem relays, video and audio, impaired by cfg (the
// audio's seed one more). Every packet that gets through goes to the Bridge and to an
// ffmpeg -c copy that writes FLV, so both see the same stream.
func callImpaired(t *testing.T, src string, clip *testmedia.Clip, cfg netem.Config) impairedRun {
	sipp := peer.Require(t, "sipp", "sip-tester")
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	ng := peer.StartNginx(t, peer.NginxOptions{})
	dir, recDir := t.TempDir(), t.TempDir()
	var ev eventLog
	b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, RecordDir: recDir,
		SpaceID: func(*sip.Call) string { return "77" }, Events: ev.add})
	require.NoError(t, err)
	defer b.Close()
	ac, err := aac.ParseConfig(clip.AudioConfig)
	require.NoError(t, err)
	p := peer.Start(t, sipp, b.UA().UDPAddr().String(), "-sf", filepath.Join("testdata", "callbridge_stream.xml"),
		"-key", "stream", ng.URL("SpaceStream77"), "-key", "config", hex.EncodeToString(clip.AudioConfig),
		"-key", "channels", strconv.Itoa(ac.Channels),
		"-i", "127.0.0.1", "-p", fmt.Sprint(peer.FreePort(t)), "-mp", fmt.Sprint(peer.FreeUDPPorts(t, 4)),
		"-m", "1", "-timeout", "120s", "-timeout_error", "-nostdin")
	var call conference.CallInfo
	require.Eventually(t, func() bool {
		calls := b.Calls()
		if len(calls) == 1 && calls[0].MediaPorts["audio"] > 0 && calls[0].MediaPorts["video"] > 0 {
			call = calls[0]
			return true
		}
		return false
	}, 20*time.Second, 10*time.Millisecond, "sipp's call did not arrive: %s", p.Output())

	// ffmpeg -c copy, listening on ports of its own (RTCP on the next one up).
	cv, ca := freePortPair(t), freePortPair(t)
	sdp := filepath.Join(dir, "copy.sdp")
	require.NoError(t, os.WriteFile(sdp, []byte(fmt.Sprintf("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=copy\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=video %d RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1; sprop-parameter-sets=%s,%s\r\n"+
		"m=audio %d RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/%d/%d\r\n"+
		"a=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; config=%s\r\n",
		cv, base64.StdEncoding.EncodeToString(clip.SPS), base64.StdEncoding.EncodeToString(clip.PPS),
		ca, ac.SampleRate, ac.Channels, hex.EncodeToString(clip.AudioConfig))), 0o600))
	copied := filepath.Join(dir, "copy.flv")
	cp := peer.Start(t, ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-protocol_whitelist", "file,udp,rtp",
		"-i", sdp, "-c", "copy", "-f", "flv", copied)
	for _, port := range []int{cv, cv + 1, ca, ca + 1} {
		require.Eventually(t, func() bool { return udpBound(port) }, 20*time.Second, 10*time.Millisecond, "ffmpeg -c copy: %s", cp.Output())
	}

	loopback := func(port int) *net.UDPAddr { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port} }
	relay := func(cfg netem.Config, bridge, copyPort int) *netem.Relay {
		r, err := netem.NewRelay(cfg, netem.Dest{RTP: loopback(bridge), RTCP: loopback(bridge + 1)},
			netem.Dest{RTP: loopback(copyPort), RTCP: loopback(copyPort + 1)})
		require.NoError(t, err)
		t.Cleanup(func() { _ = r.Close() })
		return r
	}
	rv := relay(cfg, call.MediaPorts["video"], cv)
	acfg := cfg
	acfg.Seed++
	ra := relay(acfg, call.MediaPorts["audio"], ca)
	send := peer.Start(t, ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-i", src,
		"-map", "0:v", "-c:v", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "rtp", "-payload_type", "96", "-rtpflags", "send_bye",
		fmt.Sprintf("rtp://127.0.0.1:%d?rtcpport=%d&pkt_size=1200", rv.Port(), rv.Port()),
		"-map", "0:a", "-c:a", "copy", "-max_delay", "0", "-f", "rtp", "-payload_type", "97", "-rtpflags", "send_bye",
		fmt.Sprintf("rtp://127.0.0.1:%d?rtcpport=%d", ra.Port(), ra.Port()))
	require.NoError(t, send.Wait(time.Minute), send.Output())
	rv.Flush()
	ra.Flush()
	// ffmpeg -c copy ends its input when every stream's sender said BYE (RTCP, which the
	// sender sends with send_bye), and the relays pass it on after the last RTP.
	require.NoError(t, cp.Wait(30*time.Second), "ffmpeg -c copy: %s", cp.Output())
	// Every packet relayed reached the Bridge's sessions before it hangs up.
	require.Eventually(t, func() bool {
		c := b.Calls()
		return len(c) == 1 && c[0].Media["video"].Packets >= uint64(rv.Stats().Out) && c[0].Media["audio"].Packets >= uint64(ra.Stats().Out)
	}, 10*time.Second, 10*time.Millisecond, "packets: %+v, relayed %+v %+v", b.Calls(), rv.Stats(), ra.Stats())
	call = b.Calls()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, b.EndCall(ctx, call.ID))
	require.NoError(t, p.Wait(time.Minute), "sipp: %s", p.Output())
	require.Eventually(t, func() bool { return ev.has(conference.EventRecordingFinished) && ev.has(conference.EventCallEnded) },
		20*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return len(ng.Recordings()) == 1 }, 10*time.Second, 10*time.Millisecond)
	mp4s, err := filepath.Glob(filepath.Join(recDir, "spaces", "77", "*.mp4"))
	require.NoError(t, err)
	require.Len(t, mp4s, 1)
	return impairedRun{flv: ng.Recordings()[0], mp4: mp4s[0], copied: copied, video: rv.Log(), audio: ra.Log(), call: call}
}

// freePortPair returns a free even UDP port whose next port up is free too (an RTP port
// and its RTCP port, for a program that binds both).
func freePortPair(t *testing.T) int {
	for range 100 {
		port := peer.FreePort(t) &^ 1
		a, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			continue
		}
		b, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + 1})
		_ = a.Close()
		if err == nil {
			_ = b.Close()
			return port
		}
	}
	t.Fatal("no free pair of UDP ports")
	return 0
}

// udpBound says whether a program has bound a UDP port (Linux: /proc/net/udp).
func udpBound(port int) bool {
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return false
	}
	return strings.Contains(string(b), fmt.Sprintf(":%04X ", port))
}

// judged is what a stream or recording holds, decoded by ffmpeg and read by ffprobe.
type judged struct {
	videoFrames, audioFrames int
	duration                 time.Duration
	// startOffset is the audio's first presentation time less the video's; endOffset the
	// same for the ends (the last packet's time plus its duration).
	startOffset, endOffset time.Duration
	// audioSpan is from the audio's first presentation time to its end.
	audioSpan time.Duration
	// longestGap is the longest step between two pictures' presentation times.
	longestGap time.Duration
	monotonic  bool
	// errors are the lines ffmpeg's decoders printed, concealment reports (concealment)
	// left out.
	errors, concealments []string
}

func (j judged) row(name string, sourceFrames int) string {
	errs := strconv.Itoa(len(j.errors))
	if len(j.errors) > 0 {
		errs += " (" + firstWords(j.errors[0]) + ")"
	}
	return fmt.Sprintf("| %s | %d (%.0f%%) | %d | %.2f s | %+.0f ms | %+.0f ms | %v | %d | %s | %.0f ms |", name,
		j.videoFrames, 100*float64(j.videoFrames)/float64(sourceFrames), j.audioFrames, j.duration.Seconds(),
		ms(j.startOffset), ms(j.endOffset), j.monotonic, len(j.concealments), errs, ms(j.longestGap))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// firstWords gives the gist of a decoder message: what follows its "[h264 @ 0x...]".
func firstWords(line string) string {
	if i := strings.Index(line, "] "); i >= 0 {
		line = line[i+2:]
	}
	if len(line) > 40 {
		line = line[:40]
	}
	return strings.TrimSpace(line)
}

func judge(t *testing.T, file string) judged {
	t.Helper()
	probe, err := peer.FFprobe(t, time.Minute, file, "-show_packets")
	require.NoError(t, err, file)
	v, a := probe.Stream("video"), probe.Stream("audio")
	require.NotNil(t, v, file)
	require.NotNil(t, a, file)
	j := judged{videoFrames: v.Frames(), audioFrames: a.Frames(), duration: probe.Duration(), monotonic: true}
	start, end := map[int]float64{}, map[int]float64{}
	var pictures []float64
	for _, pk := range probe.Packets {
		pts, err := strconv.ParseFloat(pk.PTSTime, 64)
		if err != nil {
			continue
		}
		d, _ := strconv.ParseFloat(pk.DurationTime, 64)
		if s, ok := start[pk.StreamIndex]; !ok || pts < s {
			start[pk.StreamIndex] = pts
		}
		end[pk.StreamIndex] = math.Max(end[pk.StreamIndex], pts+d)
		if pk.StreamIndex == v.Index {
			pictures = append(pictures, pts)
		}
	}
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	j.startOffset = sec(start[a.Index] - start[v.Index])
	j.endOffset = sec(end[a.Index] - end[v.Index])
	j.audioSpan = sec(end[a.Index] - start[a.Index])
	slices.Sort(pictures)
	for i := 1; i < len(pictures); i++ {
		j.longestGap = max(j.longestGap, sec(pictures[i]-pictures[i-1]))
	}
	for _, kind := range []string{"video", "audio"} {
		dts, err := peer.PacketTimes(t, file, kind)
		require.NoError(t, err)
		for i := 1; i < len(dts); i++ {
			if dts[i] <= dts[i-1] { // strictly: two frames of a kind at one time is an error too
				j.monotonic = false
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, peer.Require(t, "ffmpeg", "ffmpeg"), "-hide_banner", "-nostdin", "-v", "error",
		"-i", file, "-f", "null", "-").CombinedOutput()
	require.NoError(t, err, "ffmpeg decoding %s: %s", file, out)
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		switch {
		case line == "":
		case concealment(line):
			j.concealments = append(j.concealments, line)
		default:
			j.errors = append(j.errors, line)
		}
	}
	return j
}

// concealment says whether a line of ffmpeg's H.264 decoder reports how it concealed
// what was lost (missing slices, a reference picture that never came), not an error in
// the bitstream it was given: a truncated or spliced NAL unit ("Invalid NAL unit size",
// "error while decoding MB", "decode_slice_header error"), an access unit without a
// picture ("missing picture", "no frame!") or timestamps out of order are errors.
func concealment(line string) bool {
	for _, s := range []string{"concealing ", "co located POCs unavailable", "Missing reference picture",
		"reference picture missing during reorder", "mmco: unref short failure", "Frame num gap"} {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

// intactFrames counts the pictures none of whose packets the relay dropped: the most a
// receiver that forwards only whole pictures can deliver.
func intactFrames(log []netem.Record) (sent, intact int) {
	lost := map[uint32]bool{}
	for _, r := range log {
		if _, ok := lost[r.Timestamp]; !ok {
			lost[r.Timestamp] = false
		}
		lost[r.Timestamp] = lost[r.Timestamp] || r.Lost
	}
	for _, l := range lost {
		if !l {
			intact++
		}
	}
	return len(lost), intact
}

// ffmpeg sends a Call Bridge-shaped call (it answers no keyframe request and
// retransmits nothing) to the streamer through a seeded impairment: 1, 3 and 5 % of the
// RTP lost, 1 % duplicated, 5 % held back by 20-40 ms, 0-15 ms of jitter. What nginx-rtmp
// and our recording hold, decoded by ffmpeg, has the whole call's duration (within
// 0.7 s), audio and video starting within 60 ms of each other, decode times that never
// go back, and no bitstream error beyond the concealment of missing slices; at 3 % it has
// at least 90 % of the pictures sent, and whatever the loss, every picture that arrived
// whole. The audio keeps its exact duration (a lost frame becomes silence of its
// length): as many frames as were sent, within one, filling its span, and it ends where
// the video ends as it started, within 40 ms. The same impaired RTP goes to ffmpeg -c copy, whose output is judged
// alike; both tables are logged (docs/RESILIENCE.md).
func TestInteropImpairedNetwork(t *testing.T) {
	peer.Serialize(t)
	peer.CheckNoLeaks(t)
	peer.Require(t, "sipp", "sip-tester")
	dir := t.TempDir()
	sources := map[bool]string{}
	clips := map[bool]*testmedia.Clip{}
	for _, sliced := range []bool{true, false} {
		sources[sliced], clips[sliced] = impairSource(t, dir, sliced)
	}
	cases := []struct {
		loss   float64
		sliced bool
	}{{0.01, true}, {0.03, true}, {0.05, true}, {0.03, false}}
	var table []string
	for _, c := range cases {
		name := fmt.Sprintf("loss %.0f%%", c.loss*100)
		if !c.sliced {
			name += ", one slice per picture"
		}
		sub := fmt.Sprintf("loss_%.0f_percent", c.loss*100)
		if !c.sliced {
			sub += "_whole_pictures"
		}
		t.Run(sub, func(t *testing.T) {
			clip := clips[c.sliced]
			run := callImpaired(t, sources[c.sliced], clip, netem.Config{Loss: c.loss, Duplicate: 0.01, Reorder: 0.05,
				ReorderMin: 20 * time.Millisecond, ReorderMax: 40 * time.Millisecond, Jitter: 15 * time.Millisecond, Seed: 22})
			sent, intact := intactFrames(run.video)
			require.Equal(t, clip.VideoFrames, sent, "every picture was sent")
			vm := run.call.Media["video"]
			t.Logf("%s: %d of %d pictures arrived whole; %d packets lost (%d of them late), %d pictures forwarded concealed, %d dropped frozen, %d with no slice left; %d keyframe requests",
				name, intact, sent, vm.PacketsLost, vm.Late, vm.Concealed, vm.Frozen, vm.EmptyFrames, vm.KeyframeRequests)
			frameDur := time.Duration(aac.SamplesPerFrame) * time.Second / 48000
			for _, f := range []struct{ name, file string }{{"sipcast → nginx", run.flv}, {"sipcast recording", run.mp4}, {"ffmpeg -c copy", run.copied}} {
				j := judge(t, f.file)
				row := fmt.Sprintf("| %s |", name) + j.row(f.name, clip.VideoFrames)[1:]
				table = append(table, row)
				t.Log(row)
				for _, e := range j.errors {
					t.Logf("%s: %s", f.name, e)
				}
				if strings.HasPrefix(f.name, "ffmpeg") {
					continue // judged, not held to our bar
				}
				require.InDelta(t, clip.Duration.Seconds(), j.duration.Seconds(), 0.7, "duration of %s", f.name)
				require.InDelta(t, 0, ms(j.startOffset), 60, "A/V start of %s", f.name)
				require.True(t, j.monotonic, "DTS of %s", f.name)
				require.Empty(t, j.errors, "bitstream errors in %s", f.name)
				if c.sliced {
					require.GreaterOrEqual(t, j.videoFrames, clip.VideoFrames*9/10, "pictures in %s", f.name)
				}
				// The audio: as long as the call, within a frame; no hole in it; the A/V offset at
				// the end as at the start.
				require.InDelta(t, clip.AudioFrames, j.audioFrames, 1, "the audio of %s lasts the call, within a frame", f.name)
				require.InDelta(t, ms(j.audioSpan), float64(j.audioFrames)*ms(frameDur), ms(frameDur), "audio frames fill %s", f.name)
				require.InDelta(t, ms(j.startOffset), ms(j.endOffset), 40, "A/V offset at the end of %s", f.name)
			}
		})
	}
	t.Log("| case | output | pictures | audio frames | duration | A/V start | A/V end | DTS monotonic | concealment reports | decode errors | longest picture gap |\n" +
		strings.Join(table, "\n"))
}

// A sender that answers keyframe requests (our rtpsend, as a Call Bridge does) sends the
// sliced Call Bridge-shaped source (12 s) through the impairment at 3 % loss, with PLI, NACK and rtcp-mux
// offered. Each loss freezes the picture (LossAdaptive, the default, freezes while the
// requests are answered within KeyframeAnswerBound) until the keyframe that answers it.
// What nginx-rtmp and our recording hold, decoded by ffmpeg, has the call's duration, no
// bitstream error and decode times that never go back. The longest freeze, measured on
// nginx's stream, and the requests' answer latency are logged (docs/RESILIENCE.md).
func TestInteropLossAnsweredByKeyframes(t *testing.T) {
	peer.Serialize(t)
	peer.CheckNoLeaks(t)
	peer.Require(t, "ffmpeg", "ffmpeg")
	_, clip := impairSource(t, t.TempDir(), true)
	ng := peer.StartNginx(t, peer.NginxOptions{})
	recDir := t.TempDir()
	var ev eventLog
	b, err := conference.New(conference.Config{SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")}, RecordDir: recDir,
		StreamURL: ng.URL("answered"), Events: ev.add})
	require.NoError(t, err)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	call, _, sender := dialBridgeWith(ctx, t, b, clip, dialOpts{video: true, audio: true, edit: withRTCPFeedback})
	cfg := netem.Config{Loss: 0.03, Duplicate: 0.01, Reorder: 0.05, ReorderMin: 20 * time.Millisecond,
		ReorderMax: 40 * time.Millisecond, Jitter: 15 * time.Millisecond, Seed: 22}
	through := func(st *rtpsend.Stream, cfg netem.Config) *netem.Relay {
		r, err := netem.NewRelay(cfg, netem.Dest{RTP: st.RTP, RTCP: st.RTCP})
		require.NoError(t, err)
		t.Cleanup(func() { _ = r.Close() })
		st.RTP, st.RTCP = r.Addr(), r.Addr()
		return r
	}
	rv := through(sender.Video, cfg)
	cfg.Seed++
	ra := through(sender.Audio, cfg)
	answerCtx, stopAnswering := context.WithCancel(ctx)
	answered := make(chan error, 1)
	go func() { answered <- sender.AnswerKeyframes(answerCtx) }()
	const length = 12 * time.Second
	require.NoError(t, sender.Play(ctx, clip.Interleaved(), clip.Duration, length, nil))
	rv.Flush()
	ra.Flush()
	require.Eventually(t, func() bool {
		c := b.Calls()
		return len(c) == 1 && c[0].Media["video"].Packets >= uint64(rv.Stats().Out) && c[0].Media["audio"].Packets >= uint64(ra.Stats().Out)
	}, 10*time.Second, 10*time.Millisecond)
	info := b.Calls()[0]
	require.NoError(t, call.Hangup(ctx))
	stopAnswering()
	require.ErrorIs(t, <-answered, context.Canceled)
	require.Eventually(t, func() bool { return ev.has(conference.EventRecordingFinished) && ev.has(conference.EventCallEnded) },
		20*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return len(ng.Recordings()) == 1 }, 10*time.Second, 10*time.Millisecond)
	mp4s, err := filepath.Glob(filepath.Join(recDir, "forwardedCalls", "*.mp4"))
	require.NoError(t, err)
	require.Len(t, mp4s, 1)

	v := info.Media["video"]
	sent := int(length / (clip.Duration / time.Duration(clip.VideoFrames)))
	t.Logf("%d of %d video packets lost on the way, %d lost at the receiver (%d late); %d keyframe requests, %d answered (%d keyframes sent); answer latency last %v, longest %v; %d frames frozen, %d concealed",
		rv.Stats().Lost, rv.Stats().In, v.PacketsLost, v.Late, v.KeyframeRequests, v.KeyframesAnswered, sender.KeyframesSent.Load(),
		v.KeyframeLatency, v.KeyframeLatencyMax, v.Frozen, v.Concealed)
	for _, f := range []struct{ name, file string }{{"sipcast → nginx", ng.Recordings()[0]}, {"sipcast recording", mp4s[0]}} {
		j := judge(t, f.file)
		t.Logf("| answered, loss 3%% |%s", j.row(f.name, sent)[1:])
		require.InDelta(t, length.Seconds(), j.duration.Seconds(), 0.7, "duration of %s", f.name)
		require.True(t, j.monotonic, "DTS of %s", f.name)
		require.Empty(t, j.errors, "bitstream errors in %s", f.name)
	}
	require.Positive(t, rv.Stats().Lost)
	require.Positive(t, sender.KeyframesSent.Load(), "the caller answered requests")
	require.Positive(t, v.KeyframesAnswered)
	require.Positive(t, v.Frozen, "the picture froze for the answers")
}
