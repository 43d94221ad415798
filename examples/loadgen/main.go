// Command loadgen places N concurrent calls into a streamer (examples/streamer), each
// sending the bundled 720p test clip as real packetized RTP (H.264 padded with filler
// NAL units to the -bitrate asked for, and AAC), paced in real time by a couple of
// goroutines. The streams go to an RTMP server inside loadgen that counts the frames it
// receives. It reports, for the streamer process alone, CPU time per stream-second,
// memory per stream, frames out and dropped, and ends with one machine-readable line:
//
//	loadgen: streams=N seconds=S cpu_ms_per_stream_second=X rss_mb_per_stream=Y frames_out=F frames_dropped=D
//
// -json FILE writes the same (and the ffmpeg figures with -compare-ffmpeg) as JSON;
// -memprofile FILE has the streamer write a heap profile at the end of the window.
//
// With -compare-ffmpeg it first measures one stream through `ffmpeg -c copy` (SDP in,
// FLV over RTMP out; the median of three runs) and one stream alone through the
// streamer, then compares ffmpeg's CPU for its one stream with the streamer's CPU per
// stream while it carries -streams of them:
//
//	loadgen-compare: ffmpeg_cpu_ms_per_second=X streamer_cpu_ms_per_stream_second=Y streams=N ratio=R streamer_alone_cpu_ms_per_second=Z
//
// With -audio pcmu the calls send PCMU (a synthesized voice-like signal) in place of the
// clip's AAC, which the streamer transcodes to AAC; -compare-ffmpeg then has ffmpeg make
// the same transcode (-c:v copy -c:a aac, 48 kHz mono, 32 kb/s) from the same RTP.
//
//	go run ./examples/loadgen -streams 200 -duration 30s
//	go run ./examples/loadgen -streams 200 -duration 30s -compare-ffmpeg
//	go run ./examples/loadgen -streams 100 -duration 20s -audio pcmu -compare-ffmpeg
//
// With -relay build (or a binary's path) it measures examples/relay instead: the relay
// places the calls through its REST API, a callee answers each as a phone (PCMU and
// H.264) and sends the schedule, and the relay streams them to the same RTMP sink. The
// callee is sipp (-callee sipp, the default: it replays captures loadgen writes of the
// schedule, with Sender Reports) or loadgen's own UA (-callee loadgen).
//
//	go run ./examples/loadgen -relay build -streams 50 -duration 20s
package main

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/rtcp"

	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/aac"
	"github.com/sipcast/sipcast/media/rtpsend"
	"github.com/sipcast/sipcast/media/testclip"
	"github.com/sipcast/sipcast/mixer/g711"
	"github.com/sipcast/sipcast/rtmp"
	"github.com/sipcast/sipcast/sip"
)

type options struct {
	streams       int
	duration      time.Duration
	bitrate       int
	streamer      string
	compareFFmpeg bool
	senders       int
	profile       string
	memProfile    string
	json          string
	pollInterval  time.Duration
	// relay, when set, measures examples/relay (its binary, or "build") dialling loadgen.
	relay string
	// callee answers the relay's calls: "sipp" (captures of the schedule) or "loadgen".
	callee string
	// audio is the calls' audio codec: "aac" (the clip's, passed through) or "pcmu"
	// (a synthesized voice-like signal the streamer transcodes to AAC).
	audio string
}

func main() {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ExitOnError)
	fs.IntVar(&o.streams, "streams", 10, "concurrent calls")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "how long the measured window lasts (all calls up)")
	fs.IntVar(&o.bitrate, "bitrate", 2_000_000, "video bitrate in bit/s (the clip is padded with filler NAL units up to it)")
	fs.StringVar(&o.streamer, "streamer", "", "streamer binary (default: built from ./examples/streamer)")
	fs.BoolVar(&o.compareFFmpeg, "compare-ffmpeg", false, "measure one stream through ffmpeg -c copy and through the streamer first")
	fs.IntVar(&o.senders, "senders", 2, "sending goroutines")
	fs.StringVar(&o.profile, "cpuprofile", "", "have the streamer write a CPU profile here")
	fs.StringVar(&o.json, "json", "", "also write the result as JSON to this file")
	fs.StringVar(&o.memProfile, "memprofile", "", "have the streamer write a heap profile here at the end of the window, the calls up")
	fs.DurationVar(&o.pollInterval, "poll-interval", 0, "the streamer's -poll-interval (0: its default)")
	fs.StringVar(&o.relay, "relay", "", `measure examples/relay instead: it places the calls to loadgen, which answers with PCMU and H.264 ("build" builds it; or a binary's path)`)
	fs.StringVar(&o.callee, "callee", "sipp", "with -relay, who answers the calls: sipp (playing captures of the clip and PCMU; needs root for its raw socket) or loadgen (its own UA and senders)")
	fs.StringVar(&o.audio, "audio", "aac", "the calls' audio: aac (the clip's, passed through) or pcmu (transcoded to AAC by the streamer; -compare-ffmpeg then has ffmpeg transcode it too)")
	_ = fs.Parse(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, out io.Writer) error {
	if o.streams <= 0 || o.duration <= 0 || o.senders <= 0 {
		return errors.New("-streams, -duration and -senders must be positive")
	}
	if o.audio == "" {
		o.audio = "aac"
	}
	if o.audio != "aac" && o.audio != "pcmu" {
		return fmt.Errorf("-audio %q: aac or pcmu", o.audio)
	}
	clip, err := testclip.AV720p()
	if err != nil {
		return err
	}
	if o.relay != "" {
		o.audio = "pcmu" // a phone's
		if o.callee == "" {
			o.callee = "sipp"
		}
		if o.callee != "sipp" && o.callee != "loadgen" {
			return fmt.Errorf("-callee %q: sipp or loadgen", o.callee)
		}
	}
	sched, err := schedule(clip, o.bitrate, o.audio == "pcmu")
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "loadgen")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if o.streamer == "" {
		o.streamer = filepath.Join(tmp, "streamer")
		if err := goBuild(ctx, o.streamer, "streamer"); err != nil {
			return err
		}
	}
	sink, err := newSink()
	if err != nil {
		return err
	}
	defer sink.close()
	fmt.Fprintf(out, "clip: %d packets per %v loop, video padded to %d kbit/s, audio %s\n", len(sched.packets), sched.length, o.bitrate/1000, o.audio)

	var ff, alone float64
	if o.compareFFmpeg {
		// ffmpeg's figure varies from run to run on a shared VM: take the median of three.
		var runs []float64
		// A run that ffmpeg ends itself (it has exited on "Packet is missing PTS" when a
		// packet came before its RTP timing settled) is tried again, up to three times.
		for failures := 0; len(runs) < 3; {
			x, err := measureFFmpeg(ctx, sched, sink, min(o.duration, 20*time.Second), tmp)
			if err != nil {
				if failures++; failures > 3 || ctx.Err() != nil {
					return fmt.Errorf("ffmpeg: %w", err)
				}
				fmt.Fprintf(out, "ffmpeg run failed, trying again: %v\n", strings.TrimSpace(tail(err.Error(), 2)))
				continue
			}
			runs = append(runs, x)
		}
		fmt.Fprintf(out, "ffmpeg: %s\n", ffmpegVersion(ctx))
		slices.Sort(runs)
		ff = runs[1]
		ours, err := measureStreamer(ctx, o, sched, sink, 1, io.Discard)
		if err != nil {
			return err
		}
		alone = ours.cpuPerStreamSecond
		fmt.Fprintf(out, "one stream alone: %s %.2f ms CPU per second (median of %.2f, %.2f, %.2f), the streamer process %.2f ms\n",
			ffmpegDoes(o), ff, runs[0], runs[1], runs[2], alone)
	}
	measure := measureStreamer
	if o.relay != "" {
		measure = measureRelay
	}
	r, err := measure(ctx, o, sched, sink, o.streams, out)
	if err != nil {
		return err
	}
	if o.compareFFmpeg {
		fmt.Fprintf(out, "per stream: %s %.2f ms CPU per second, the streamer carrying %d streams %.3f ms: %.1f times less\n",
			ffmpegDoes(o), ff, o.streams, r.cpuPerStreamSecond, ff/r.cpuPerStreamSecond)
		fmt.Fprintf(out, "loadgen-compare: ffmpeg_cpu_ms_per_second=%.3f streamer_cpu_ms_per_stream_second=%.3f streams=%d ratio=%.2f streamer_alone_cpu_ms_per_second=%.3f\n",
			ff, r.cpuPerStreamSecond, o.streams, ff/r.cpuPerStreamSecond, alone)
	}
	fmt.Fprintf(out, "loadgen: streams=%d seconds=%.0f cpu_ms_per_stream_second=%.3f rss_mb_per_stream=%.3f frames_out=%d frames_dropped=%d\n",
		o.streams, o.duration.Seconds(), r.cpuPerStreamSecond, r.rssMBPerStream, r.framesOut, r.framesDropped)
	if o.json != "" {
		j := jsonResult{Streams: o.streams, Seconds: o.duration.Seconds(), Audio: o.audio, Relay: o.relay != "",
			CPUmsPerStreamSecond: r.cpuPerStreamSecond, RSSMBPerStream: r.rssMBPerStream,
			FramesOut: r.framesOut, FramesDropped: r.framesDropped}
		if o.compareFFmpeg {
			j.FFmpegCPUmsPerSecond, j.StreamerAloneCPUmsPerSecond = &ff, &alone
			ratio := ff / r.cpuPerStreamSecond
			j.Ratio = &ratio
		}
		b, err := json.MarshalIndent(j, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.json, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("-json: %w", err)
		}
	}
	return nil
}

// jsonResult is what -json writes: the run's settings and figures (the ffmpeg ones with
// -compare-ffmpeg only).
type jsonResult struct {
	Streams                     int      `json:"streams"`
	Seconds                     float64  `json:"seconds"`
	Audio                       string   `json:"audio"`
	Relay                       bool     `json:"relay"`
	CPUmsPerStreamSecond        float64  `json:"cpu_ms_per_stream_second"`
	RSSMBPerStream              float64  `json:"rss_mb_per_stream"`
	FramesOut                   uint64   `json:"frames_out"`
	FramesDropped               uint64   `json:"frames_dropped"`
	FFmpegCPUmsPerSecond        *float64 `json:"ffmpeg_cpu_ms_per_second,omitempty"`
	StreamerAloneCPUmsPerSecond *float64 `json:"streamer_alone_cpu_ms_per_second,omitempty"`
	Ratio                       *float64 `json:"ratio,omitempty"`
}

// ffmpegVersion is the first line of `ffmpeg -version`.
func ffmpegVersion(ctx context.Context) string {
	b, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-version").Output()
	if err != nil {
		return "version unknown: " + err.Error()
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return line
}

// ffmpegDoes says what ffmpeg is measured doing.
func ffmpegDoes(o options) string {
	if o.audio == "pcmu" {
		return "ffmpeg -c:v copy -c:a aac (PCMU transcoded)"
	}
	return "ffmpeg -c copy"
}

// packet is one RTP packet of the clip's loop: when it goes (from the loop's start), its
// stream, and the marshalled packet whose SSRC, sequence number and timestamp each call
// rewrites.
type packet struct {
	at    time.Duration
	video bool
	ts    uint32 // from the stream's first timestamp
	data  []byte
	frame bool // the last packet of a frame
}

type schedule_ struct {
	packets []packet
	// firstVideo and firstAudio are when each stream's first packet goes: its RTP time
	// (relative 0) is presented then.
	firstVideo, firstAudio time.Duration
	length                 time.Duration
	videoFrames            int
	audioFrames            int
	// audioOut is the AAC frames per loop the streamer sends for the audio (the
	// transcoded PCMU's: 1024 samples at 48 kHz each).
	audioOut     float64
	pcmu         bool
	sps, pps     []byte
	audioConfig  []byte
	audioRate    int
	audioChannel int
}

// schedule packetizes one loop of the clip with rtpsend (as a live encoder paces it),
// padding each video frame with a filler NAL unit so that the video reaches bitrate.
// With pcmu the clip's audio is left out, and 20 ms PCMU packets of a synthesized
// voice-like signal take its place.
func schedule(clip *testclip.Clip, bitrate int, pcmu bool) (*schedule_, error) {
	ac, err := aac.ParseConfig(clip.AudioConfig)
	if err != nil {
		return nil, err
	}
	s := &schedule_{length: clip.Duration, sps: clip.SPS, pps: clip.PPS, audioConfig: clip.AudioConfig, audioRate: ac.SampleRate, audioChannel: ac.Channels}
	frames := clip.Interleaved()
	var videoBytes int
	for _, f := range frames {
		if f.Codec == media.CodecH264 {
			videoBytes += len(f.Data)
			s.videoFrames++
		} else {
			s.audioFrames++
		}
	}
	pad := 0
	if want := int(int64(bitrate) * int64(clip.Duration) / int64(time.Second) / 8); want > videoBytes && s.videoFrames > 0 {
		pad = (want - videoBytes) / s.videoFrames
	}
	for i := range frames {
		if f := &frames[i]; f.Codec == media.CodecH264 && pad > 5 {
			// AVCC filler data NAL unit (type 12): 0xFF bytes, ended by 0x80.
			n := pad - 4
			filler := make([]byte, 4+n)
			binary.BigEndian.PutUint32(filler, uint32(n))
			filler[4] = 12
			for j := 5; j < len(filler)-1; j++ {
				filler[j] = 0xFF
			}
			filler[len(filler)-1] = 0x80
			f.Data = append(append([]byte(nil), f.Data...), filler...)
		}
	}
	first := map[bool]uint32{}
	seen := map[bool]bool{}
	var cur time.Duration
	snd := &rtpsend.Sender{SPS: clip.SPS, PPS: clip.PPS,
		Video: rtpsend.NewStream(nil, nil, nil, 90000), Audio: rtpsend.NewStream(nil, nil, nil, ac.SampleRate)}
	snd.Output = func(st *rtpsend.Stream, b []byte) error {
		video := st == snd.Video
		ts := binary.BigEndian.Uint32(b[4:])
		if !seen[video] {
			seen[video], first[video] = true, ts
			if video {
				s.firstVideo = cur
			} else {
				s.firstAudio = cur
			}
		}
		s.packets = append(s.packets, packet{at: cur, video: video, ts: ts - first[video], data: append([]byte(nil), b...), frame: b[1]&0x80 != 0})
		return nil
	}
	for _, sf := range rtpsend.Schedule(frames) { // paced as rtpsend.Sender.Play paces
		if pcmu && frames[sf.Index].Codec != media.CodecH264 {
			continue
		}
		cur = sf.At
		if err := snd.Send(&frames[sf.Index]); err != nil {
			return nil, err
		}
	}
	s.audioOut = float64(s.audioFrames)
	if pcmu {
		s.addPCMU()
	}
	return s, nil
}

// addPCMU adds a loop of 20 ms PCMU packets (payload type 0) of a voice-like signal:
// a 150 Hz tone with harmonics, in syllables four times a second.
func (s *schedule_) addPCMU() {
	const rate, per = 8000, 160
	n := int(s.length.Seconds()*rate) / per
	pcm := make([]int16, n*per)
	for i := range pcm {
		t := float64(i) / rate
		env := 0.5 - 0.5*math.Cos(2*math.Pi*4*t)
		v := 0.5*math.Sin(2*math.Pi*150*t) + 0.3*math.Sin(2*math.Pi*450*t) + 0.2*math.Sin(2*math.Pi*1350*t)
		pcm[i] = int16(8000 * env * v)
	}
	coded := g711.ULaw.Encode(nil, pcm)
	var audio []packet
	for k := range n {
		b := make([]byte, 12+per)
		b[0], b[1] = 0x80, 0 // RTP version 2, payload type 0
		copy(b[12:], coded[k*per:(k+1)*per])
		audio = append(audio, packet{at: time.Duration(k) * 20 * time.Millisecond, ts: uint32(k * per), data: b, frame: true})
	}
	s.packets = append(s.packets, audio...)
	slices.SortStableFunc(s.packets, func(a, b packet) int { return cmp.Compare(a.at, b.at) })
	s.pcmu, s.audioRate, s.firstAudio = true, rate, 0
	s.audioFrames = n
	// The length is a whole number of 20 ms packets (the loop's timestamps run on).
	s.length = time.Duration(n) * 20 * time.Millisecond
	s.audioOut = s.length.Seconds() * 48000 / 1024
}

// offer is the SDP offer of a call sending the schedule from address:port.
func (s *schedule_) offer(address net.IP, port int) []byte {
	if !s.pcmu {
		return rtpsend.SDP(address, port, port, s.sps, s.pps, s.audioConfig, s.audioRate, s.audioChannel)
	}
	b := rtpsend.SDP(address, port, 0, s.sps, s.pps, nil, 0, 0)
	return append(b, fmt.Sprintf("m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n", port)...)
}

// call is one call's sending state.
type call struct {
	oc               *sip.OutboundCall
	video, audio     *net.UDPAddr
	vrtcp, artcp     *net.UDPAddr
	nextSR           time.Duration
	vssrc, assrc     uint32
	vseq, aseq       uint16
	vbase, abase     uint32
	offset           time.Duration // staggers the calls' keyframes
	next             int
	loop             int
	framesV, framesA atomic.Uint64
}

// send paces calls' packets from one goroutine: every 2 ms it sends what is due.
func send(ctx context.Context, conn *net.UDPConn, sched *schedule_, calls []*call, start time.Time) {
	buf := make([]byte, 2048)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	vrate, arate := int64(90000), int64(sched.audioRate)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Since(start)
		for _, c := range calls {
			if now >= c.nextSR+c.offset {
				c.nextSR = now - c.offset + time.Second
				senderReports(conn, sched, c, start)
			}
			for {
				p := &sched.packets[c.next]
				due := c.offset + time.Duration(c.loop)*sched.length + p.at
				if due > now {
					break
				}
				b := buf[:len(p.data)]
				copy(b, p.data)
				loopTicks := func(rate int64) uint32 {
					return uint32(int64(c.loop) * int64(sched.length) * rate / int64(time.Second))
				}
				var dst *net.UDPAddr
				if p.video {
					binary.BigEndian.PutUint16(b[2:], c.vseq)
					binary.BigEndian.PutUint32(b[4:], c.vbase+p.ts+loopTicks(vrate))
					binary.BigEndian.PutUint32(b[8:], c.vssrc)
					c.vseq++
					dst = c.video
					if p.frame {
						c.framesV.Add(1)
					}
				} else {
					binary.BigEndian.PutUint16(b[2:], c.aseq)
					binary.BigEndian.PutUint32(b[4:], c.abase+p.ts+loopTicks(arate))
					binary.BigEndian.PutUint32(b[8:], c.assrc)
					c.aseq++
					dst = c.audio
					c.framesA.Add(1)
				}
				if dst != nil {
					_, _ = conn.WriteToUDP(b, dst)
				}
				if c.next++; c.next == len(sched.packets) {
					c.next, c.loop = 0, c.loop+1
				}
			}
		}
	}
}

// senderReports tells the receiver, for each stream, which RTP time is presented now
// (the timeline the packets are paced on), as rtpsend does.
func senderReports(conn *net.UDPConn, sched *schedule_, c *call, start time.Time) {
	now := time.Now()
	t := now.Sub(start) - c.offset
	for _, st := range []struct {
		dst   *net.UDPAddr
		ssrc  uint32
		base  uint32
		first time.Duration
		rate  int64
	}{{c.vrtcp, c.vssrc, c.vbase, sched.firstVideo, 90000}, {c.artcp, c.assrc, c.abase, sched.firstAudio, int64(sched.audioRate)}} {
		if st.dst == nil || t < st.first {
			continue
		}
		sr := rtcp.SenderReport{SSRC: st.ssrc, NTPTime: rtpsend.NTP(now), RTPTime: st.base + uint32(int64(t-st.first)*st.rate/int64(time.Second))}
		if b, err := sr.Marshal(); err == nil {
			_, _ = conn.WriteToUDP(b, st.dst)
		}
	}
}

type result struct {
	cpuPerStreamSecond float64
	rssMBPerStream     float64
	framesOut          uint64
	framesDropped      uint64
}

// measureStreamer starts the streamer, places n calls, waits until every stream is
// published, measures the streamer's CPU over o.duration, hangs up and stops it.
func measureStreamer(ctx context.Context, o options, sched *schedule_, sink *sink, n int, out io.Writer) (result, error) {
	var r result
	sipPort, err := freeUDPPort()
	if err != nil {
		return r, err
	}
	metrics, err := freeTCPAddr()
	if err != nil {
		return r, err
	}
	cmd := exec.CommandContext(ctx, o.streamer, "-sip-udp", fmt.Sprintf("127.0.0.1:%d", sipPort), "-sip-tcp", "none",
		"-metrics", metrics, "-media-ip", "127.0.0.1", "-cpuprofile", o.profile, "-memprofile", o.memProfile, "-poll-interval", o.pollInterval.String(), "-call-limit", strconv.Itoa(max(o.streams, 1)+10))
	var logs syncBuffer
	cmd.Stderr = &logs
	exited, stopProc, err := start(cmd, 20*time.Second)
	if err != nil {
		return r, err
	}
	defer stopProc()
	ua, err := sip.New(sip.WithUDP("127.0.0.1:0"), sip.WithUserAgentName("sipcast loadgen"))
	if err != nil {
		return r, err
	}
	defer ua.Close()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return r, err
	}
	defer conn.Close()
	_ = conn.SetWriteBuffer(4 << 20)
	local := conn.LocalAddr().(*net.UDPAddr)
	offer := sched.offer(local.IP, local.Port)
	prefix := fmt.Sprintf("load%d", rand.Uint32())
	calls := make([]*call, n)
	target := fmt.Sprintf("sip:streamer@127.0.0.1:%d", sipPort)
	for i := range calls {
		var oc *sip.OutboundCall
		for attempt := 0; ; attempt++ { // the streamer may still be starting
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			oc, err = ua.Dial(dctx, target, offer, sip.DialOptions{Timeout: 5 * time.Second,
				ContactParams: map[string]string{"x-cisco-stream": sink.url(fmt.Sprintf("%s-%d", prefix, i))}})
			cancel()
			if err == nil || attempt == 5 || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			return r, fmt.Errorf("call %d: %w\n%s", i, err, logs.String())
		}
		snd, err := rtpsend.ForAnswer(conn, oc.Answer, sched.sps, sched.pps, sched.audioRate)
		if err != nil {
			return r, err
		}
		c := &call{oc: oc, vssrc: rand.Uint32(), assrc: rand.Uint32(), vseq: uint16(rand.Uint32()), aseq: uint16(rand.Uint32()),
			vbase: rand.Uint32(), abase: rand.Uint32(), offset: time.Duration(i) * sched.length / time.Duration(n)}
		if snd.Video != nil {
			c.video, c.vrtcp = snd.Video.RTP, snd.Video.RTCP
		}
		if snd.Audio != nil {
			c.audio, c.artcp = snd.Audio.RTP, snd.Audio.RTCP
		}
		calls[i] = c
	}
	defer func() {
		for _, c := range calls {
			hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = c.oc.Hangup(hctx)
			cancel()
		}
	}()
	defer startSending(ctx, conn, sched, calls, o.senders)()
	if err := waitPublishing(ctx, sink, prefix, len(calls), exited, &logs); err != nil {
		return r, err
	}
	return measureProcess(ctx, cmd.Process.Pid, o, sched, sink, prefix, n, metrics, out)
}

// startSending sends the calls' packets from up to senders goroutines until the
// returned function is called (which waits for them).
func startSending(ctx context.Context, conn *net.UDPConn, sched *schedule_, calls []*call, senders int) (stop func()) {
	sendCtx, stopSending := context.WithCancel(ctx)
	var wg sync.WaitGroup
	start := time.Now()
	senders = min(senders, len(calls))
	for g := range senders {
		var mine []*call
		for i := g; i < len(calls); i += senders {
			mine = append(mine, calls[i])
		}
		wg.Add(1)
		go func() { defer wg.Done(); send(sendCtx, conn, sched, mine, start) }()
	}
	return func() { stopSending(); wg.Wait() }
}

// waitPublishing waits until n streams of prefix publish, and a loop of the clip more:
// the steady state.
func waitPublishing(ctx context.Context, sink *sink, prefix string, n int, exited <-chan struct{}, logs *syncBuffer) error {
	start := time.Now()
	deadline := time.Now().Add(30*time.Second + time.Duration(n)*20*time.Millisecond)
	for sink.publishing(prefix) < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d streams published after %v\n%s", sink.publishing(prefix), n, time.Since(start), tail(logs.String(), 20))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return fmt.Errorf("the process exited:\n%s", tail(logs.String(), 20))
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// measureProcess measures process pid's CPU over o.duration (after a loop of the clip)
// while it carries n streams of prefix, and the frames the sink got against those sent;
// metrics, when set, is the streamer's operations address for its dropped frames.
func measureProcess(ctx context.Context, pid int, o options, sched *schedule_, sink *sink, prefix string, n int, metrics string, out io.Writer) (result, error) {
	var r result
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(sched.length):
	}
	cpu0, err := cpuTime(pid)
	if err != nil {
		return r, err
	}
	out0 := sink.frames(prefix)
	var drop0 uint64
	if metrics != "" {
		drop0, _ = scrapeDropped(metrics)
	}
	t0 := time.Now()
	fmt.Fprintf(out, "%d streams up; measuring for %v\n", n, o.duration)
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
	end := time.After(o.duration)
measure:
	for {
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-progress.C:
			c, _ := cpuTime(pid)
			fmt.Fprintf(out, "  %4.0fs  CPU %5.1f%%  frames out %d\n", time.Since(t0).Seconds(),
				100*(c-cpu0).Seconds()/time.Since(t0).Seconds(), sink.frames(prefix)-out0)
		case <-end:
			break measure
		}
	}
	cpu1, err := cpuTime(pid)
	if err != nil {
		return r, err
	}
	elapsed := time.Since(t0)
	r.framesOut = sink.frames(prefix) - out0
	if metrics != "" {
		drop1, err := scrapeDropped(metrics)
		if err != nil {
			return r, err
		}
		r.framesDropped = drop1 - drop0
	}
	if o.memProfile != "" {
		_ = syscall.Kill(pid, syscall.SIGUSR1) // the streamer writes its heap profile
	}
	rss, err := rssBytes(pid)
	if err != nil {
		return r, err
	}
	r.cpuPerStreamSecond = float64((cpu1 - cpu0).Microseconds()) / 1000 / (elapsed.Seconds() * float64(n))
	r.rssMBPerStream = float64(rss) / (1 << 20) / float64(n)
	// Frames sent in the window against frames out: what was lost, by any cause.
	expected := uint64(float64(n) * elapsed.Seconds() / sched.length.Seconds() * (float64(sched.videoFrames) + sched.audioOut))
	fmt.Fprintf(out, "process: %.1f%% of a core for %d streams, %.3f ms CPU per stream-second, RSS %.1f MB (%.2f MB per stream)\n",
		100*(cpu1-cpu0).Seconds()/elapsed.Seconds(), n, r.cpuPerStreamSecond, float64(rss)/(1<<20), r.rssMBPerStream)
	fmt.Fprintf(out, "frames: %d out at the RTMP server, about %d sent in the window, %d dropped by the publishers\n", r.framesOut, expected, r.framesDropped)
	// The estimate is good to the window's edges: the frames of a tenth of a second per
	// stream may be on their way at either end (a poll round, the RTMP write). A short
	// run of a few streams is judged by that, a long one by 1 %.
	edges := 0.1 * float64(n) / sched.length.Seconds() * (float64(sched.videoFrames) + sched.audioOut)
	if lost := float64(expected) - float64(r.framesOut); lost > max(0.01*float64(expected), edges) {
		r.framesDropped += uint64(lost)
		fmt.Fprintf(out, "frames: %.0f fewer out than sent (more than 1%% and than the window's edges): counted as dropped\n", lost)
	}
	return r, nil
}

// measureFFmpeg sends one stream to `ffmpeg -c copy` (SDP in, FLV to the RTMP sink out)
// and returns its CPU time per second.
func measureFFmpeg(ctx context.Context, sched *schedule_, sink *sink, d time.Duration, dir string) (float64, error) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		return 0, errors.New("ffmpeg is not installed (Debian: apt-get install ffmpeg)")
	}
	vport, err := freeUDPPair()
	if err != nil {
		return 0, err
	}
	aport, err := freeUDPPair()
	if err != nil {
		return 0, err
	}
	sdp := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=loadgen\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=video %d RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;sprop-parameter-sets=%s,%s\r\n"+
		"m=audio %d RTP/AVP 97\r\na=rtpmap:97 mpeg4-generic/%d/%d\r\na=fmtp:97 streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=%x\r\n",
		vport, base64.StdEncoding.EncodeToString(sched.sps), base64.StdEncoding.EncodeToString(sched.pps), aport, sched.audioRate, sched.audioChannel, sched.audioConfig)
	// ffmpeg 5.1's RTP demuxer can hand the first H.264 packet on with no timestamp (then
	// its FLV muxer stops: "Packet is missing PTS"); the clip has no B-frames, so the
	// presentation time is the decoding time: setts says so.
	codecs := []string{"-c", "copy", "-bsf:v", "setts=pts=DTS"}
	if sched.pcmu {
		// The same transcode the streamer makes: PCMU to AAC-LC, 48 kHz mono, 32 kb/s.
		sdp = sdp[:strings.Index(sdp, "m=audio")] + fmt.Sprintf("m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", aport)
		codecs = []string{"-c:v", "copy", "-bsf:v", "setts=pts=DTS", "-c:a", "aac", "-b:a", "32k", "-ar", "48000", "-ac", "1"}
	}
	sdpFile := filepath.Join(dir, "stream.sdp")
	if err := os.WriteFile(sdpFile, []byte(sdp), 0o644); err != nil {
		return 0, err
	}
	name := fmt.Sprintf("ffmpeg%d", rand.Uint32())
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-protocol_whitelist", "file,udp,rtp", "-use_wallclock_as_timestamps", "1", "-i", sdpFile}
	args = append(append(args, codecs...), "-f", "flv", sink.url(name))
	cmd := exec.CommandContext(ctx, ffmpeg, args...)
	var logs syncBuffer
	cmd.Stderr = &logs
	exited, stopProc, err := start(cmd, 10*time.Second)
	if err != nil {
		return 0, err
	}
	defer stopProc()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	c := &call{video: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: vport}, audio: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: aport},
		vrtcp: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: vport + 1}, artcp: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: aport + 1},
		vssrc: rand.Uint32(), assrc: rand.Uint32(), vbase: rand.Uint32(), abase: rand.Uint32()}
	sendCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); send(sendCtx, conn, sched, []*call{c}, time.Now()) }()
	defer func() { stop(); wg.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for sink.publishing(name) < 1 {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("ffmpeg did not publish: %s", logs.String())
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-exited:
			return 0, fmt.Errorf("ffmpeg exited: %s", logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	select { // settle into the steady state: a loop of the clip
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(sched.length):
	}
	cpu0, err := cpuTime(cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(d):
	}
	cpu1, err := cpuTime(cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	return float64((cpu1 - cpu0).Microseconds()) / 1000 / time.Since(t0).Seconds(), nil
}

// goBuild builds examples/<name> into bin.
func goBuild(ctx context.Context, bin, name string) error {
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/sipcast/sipcast/examples/"+name)
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the %s: %w", name, err)
	}
	return nil
}

// start starts a program; exited is closed when it has ended, stop asks it to end
// (SIGTERM), kills it after grace and waits.
func start(cmd *exec.Cmd, grace time.Duration) (exited <-chan struct{}, stop func(), err error) {
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	return done, func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(grace):
			_ = cmd.Process.Kill()
			<-done
		}
	}, nil
}

// cpuTime is the CPU time of a process's threads (Linux: the first field of each
// thread's schedstat, in nanoseconds; threads that ended are not counted).
func cpuTime(pid int) (time.Duration, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, fmt.Errorf("CPU time of %d (Linux /proc needed): %w", pid, err)
	}
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			total += time.Duration(ns)
		}
	}
	return total, nil
}

func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS")
}

// scrapeDropped sums sipcast_stream_frames_dropped_total from the streamer's metrics.
func scrapeDropped(addr string) (uint64, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n", addr)
	body, err := io.ReadAll(io.LimitReader(conn, 64<<20))
	if err != nil {
		return 0, err
	}
	var sum uint64
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "sipcast_stream_frames_dropped_total{") || strings.HasPrefix(line, "sipcast_stream_frames_dropped_total ") {
			f := strings.Fields(line)
			v, _ := strconv.ParseUint(f[len(f)-1], 10, 64)
			sum += v
		}
	}
	return sum, nil
}

func freeUDPPort() (int, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// freeUDPPair returns an even port whose next port was free too (RTP and RTCP).
func freeUDPPair() (int, error) { return freeUDPRun(2) }

// freeUDPRun returns an even port p such that p … p+n-1 were free.
func freeUDPRun(n int) (int, error) {
next:
	for range 100 {
		p, err := freeUDPPort()
		if err != nil {
			return 0, err
		}
		if p%2 != 0 || p+n > 65535 {
			continue
		}
		for q := p + 1; q < p+n; q++ {
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: q})
			if err != nil {
				continue next
			}
			c.Close()
		}
		return p, nil
	}
	return 0, fmt.Errorf("no run of %d free UDP ports", n)
}

func freeTCPAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 {
		return len(p), nil
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sink is the RTMP server the streams go to: it counts the coded frames of each stream.
type sink struct {
	srv  *rtmp.Server
	addr net.Addr
	mu   sync.Mutex
	pubs map[string]bool
	// counts by stream key
	counts map[string]*atomic.Uint64
}

func newSink() (*sink, error) {
	s := &sink{pubs: map[string]bool{}, counts: map[string]*atomic.Uint64{}}
	srv, err := rtmp.NewServer(rtmp.WithRecorder(func(key string) (io.WriteCloser, error) {
		s.mu.Lock()
		c := s.counts[key]
		if c == nil {
			c = &atomic.Uint64{}
			s.counts[key] = c
		}
		s.mu.Unlock()
		return &flvCounter{frames: c}, nil
	}), rtmp.WithStreamEvents(func(e rtmp.StreamEvent) {
		if e.Publish {
			s.mu.Lock()
			s.pubs[e.Key] = e.Start
			s.mu.Unlock()
		}
	}))
	if err != nil {
		return nil, err
	}
	s.srv = srv
	if s.addr, err = srv.Listen("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *sink) url(name string) string { return fmt.Sprintf("rtmp://%s/live/%s", s.addr, name) }

func (s *sink) publishing(prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, on := range s.pubs {
		if on && strings.HasPrefix(k, "live/"+prefix) {
			n++
		}
	}
	return n
}

func (s *sink) frames(prefix string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n uint64
	for k, c := range s.counts {
		if strings.HasPrefix(k, "live/"+prefix) {
			n += c.Load()
		}
	}
	return n
}

func (s *sink) close() { _ = s.srv.Close() }

// flvCounter reads an FLV byte stream as it is written and counts its coded audio and
// video frames (not sequence headers or metadata).
type flvCounter struct {
	frames *atomic.Uint64
	hdr    [11]byte
	nhdr   int
	skip   int // bytes of the file header, or of a tag's body and its trailer, to pass
	start  bool
	peek   int // bytes of the tag body still to look at for its packet type (0 or 2)
	kind   byte
	first  byte
}

func (c *flvCounter) Write(p []byte) (int, error) {
	n := len(p)
	if !c.start {
		c.start, c.skip = true, 9+4
	}
	for len(p) > 0 {
		if c.skip > 0 {
			if c.peek > 0 {
				switch c.peek {
				case 2:
					c.first = p[0]
				case 1:
					c.count(p[0])
				}
				c.peek--
				c.skip--
				p = p[1:]
				continue
			}
			k := min(c.skip, len(p))
			c.skip -= k
			p = p[k:]
			continue
		}
		k := copy(c.hdr[c.nhdr:], p)
		c.nhdr += k
		p = p[k:]
		if c.nhdr < len(c.hdr) {
			break
		}
		c.nhdr = 0
		size := int(c.hdr[1])<<16 | int(c.hdr[2])<<8 | int(c.hdr[3])
		c.kind, c.skip = c.hdr[0]&0x1f, size+4
		if (c.kind == 8 || c.kind == 9) && size >= 2 {
			c.peek = 2
		}
	}
	return n, nil
}

// count looks at a tag's first two bytes: AAC and AVC packet type 1 are coded frames;
// other audio formats count every tag.
func (c *flvCounter) count(second byte) {
	switch c.kind {
	case 8:
		if c.first>>4 != 10 || second == 1 {
			c.frames.Add(1)
		}
	case 9:
		if c.first&0x0f == 7 && second == 1 {
			c.frames.Add(1)
		}
	}
}

func (c *flvCounter) Close() error { return nil }
