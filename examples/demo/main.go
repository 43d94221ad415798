// Command demo is sipcast's main job in one self-contained program: it starts an embedded
// RTMP server, a conference.Bridge with SIP on loopback, and a built-in SIP caller that
// sends the bundled test clip (1280x720 H.264 + AAC) as RTP. The call is streamed to the
// embedded server, which writes what it receives to DIR/stream.flv, and recorded to MP4
// under DIR/recordings/. Progress goes to the terminal, and a summary at the end says what
// arrived and how to play it.
//
//	go run ./examples/demo [-duration 15s] [-out ./sipcast-demo] [-keep]
//
// With -keep everything stays up after the built-in call: dial the printed SIP address
// with a softphone, or play rtmp://127.0.0.1:1935/live/demo, until Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/aac"
	"github.com/sipcast/sipcast/media/testclip"
	"github.com/sipcast/sipcast/rtmp"
	"github.com/sipcast/sipcast/sip"
	"github.com/sipcast/sipcast/sip/siptest"
)

// options are the demo's flags.
type options struct {
	duration time.Duration
	out      string
	keep     bool
	rtmpAddr string
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 15*time.Second, "how long the built-in caller sends")
	flag.StringVar(&o.out, "out", "./sipcast-demo", "directory for stream.flv and recordings/")
	flag.BoolVar(&o.keep, "keep", false, "keep the server and the bridge running after the call (Ctrl-C ends)")
	flag.StringVar(&o.rtmpAddr, "rtmp", "127.0.0.1:1935", "RTMP server address (a free port is used if it is taken)")
	flag.Parse()
	// sipgo logs transport chatter on the default logger; the demo shows errors only.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// run is the demo; it returns when the call is over and its files are complete (or, with
// keep, when ctx ends).
func run(ctx context.Context, o options, out io.Writer) error {
	if o.duration <= 0 {
		return errors.New("-duration must be positive")
	}
	clip, err := testclip.AV720p()
	if err != nil {
		return fmt.Errorf("loading the test clip: %w", err)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	flvPath := filepath.Join(o.out, "stream.flv")
	recDir := filepath.Join(o.out, "recordings")

	// The embedded RTMP server: it writes the stream it receives to stream.flv.
	srv, err := rtmp.NewServer(rtmp.WithApps("live"), rtmp.WithRecorder(func(key string) (io.WriteCloser, error) {
		return os.Create(flvPath)
	}))
	if err != nil {
		return err
	}
	addr, err := srv.Listen(o.rtmpAddr)
	if err != nil {
		if addr, err = srv.Listen("127.0.0.1:0"); err != nil {
			return fmt.Errorf("RTMP server: %w", err)
		}
	}
	defer srv.Close()
	streamURL := fmt.Sprintf("rtmp://%s/live/demo", addr)

	// The Bridge: SIP on loopback, streaming to the embedded server, recording.
	events := make(chan conference.Event, 64)
	var evMu sync.Mutex
	var eventLog []conference.Event
	bridge, err := conference.New(conference.Config{
		SIP:       []sip.Option{sip.WithUDP("127.0.0.1:0")},
		StreamURL: streamURL,
		RecordDir: recDir,
		Events: func(e conference.Event) {
			evMu.Lock()
			eventLog = append(eventLog, e)
			evMu.Unlock()
			select {
			case events <- e:
			default:
			}
		},
	})
	if err != nil {
		return err
	}
	defer bridge.Close()
	sipAddr := bridge.UA().UDPAddr()
	fmt.Fprintf(out, "sipcast demo\n  RTMP server   %s (writing %s)\n  SIP (UDP)     sip:demo@%s\n  recordings    %s\n\n", streamURL, flvPath, sipAddr, recDir)

	// The built-in caller: a SIP UA of its own sending the clip from one socket.
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	call, err := siptest.Dial(dialCtx, sipAddr.String(), clip, siptest.Options{User: "demo"})
	cancel()
	if err != nil {
		return fmt.Errorf("the built-in caller: %w", err)
	}
	defer call.Close()
	sender := call.Sender
	ac, err := aac.ParseConfig(clip.AudioConfig)
	if err != nil {
		return err
	}
	var video, audio *net.UDPAddr
	if sender.Video != nil {
		video = sender.Video.RTP
	}
	if sender.Audio != nil {
		audio = sender.Audio.RTP
	}
	fmt.Fprintf(out, "calling: H.264 1280x720 to %v, AAC %d Hz to %v, for %v\n", video, ac.SampleRate, audio, o.duration)

	// Progress once a second.
	progressDone := make(chan struct{})
	stopProgress := make(chan struct{})
	go func() {
		defer close(progressDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-stopProgress:
				return
			case e := <-events:
				fmt.Fprintf(out, "  event: %s\n", e)
			case <-t.C:
				for _, c := range bridge.Calls() {
					fmt.Fprintf(out, "  %4.0fs  received %d video / %d audio frames; RTMP %s, %d kbit/s sent; recording %d fragments\n",
						time.Since(start).Seconds(), c.VideoFrames, c.AudioFrames, c.Streaming,
						c.Publisher.BytesSent*8/1000/uint64(max(1, time.Since(start).Seconds())), c.Recorder.Fragments)
				}
			}
		}
	}()
	frames := clip.Interleaved()
	var sentVideo, sentAudio uint64
	playErr := sender.Play(ctx, frames, clip.Duration, o.duration, func(f *media.Frame) {
		if f.Codec == media.CodecH264 {
			sentVideo++
		} else {
			sentAudio++
		}
	})
	// Hanging up loses nothing: the bridge reads what is still in flight first.
	hangCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = call.Hangup(hangCtx)
	cancel()
	// The bridge ends the call: the recording is finalized, the stream closed.
	waitFor(ctx, events, conference.EventCallEnded, 15*time.Second)
	close(stopProgress)
	<-progressDone
	if playErr != nil && !errors.Is(playErr, context.Canceled) {
		return fmt.Errorf("sending the clip: %w", playErr)
	}
	if !o.keep {
		srv.Close()
	}
	evMu.Lock()
	logged := append([]conference.Event(nil), eventLog...)
	evMu.Unlock()
	return summary(ctx, out, o, clip, flvPath, recDir, logged, bridge)
}

// waitFor waits until an event of type t arrives, ctx ends or timeout passes (the event
// log keeps every event for the summary).
func waitFor(ctx context.Context, ch <-chan conference.Event, t conference.EventType, timeout time.Duration) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case e := <-ch:
			if e.Type == t {
				return
			}
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		}
	}
}

func summary(ctx context.Context, out io.Writer, o options, clip *testclip.Clip, flvPath, recDir string, events []conference.Event, bridge *conference.Bridge) error {
	fmt.Fprintf(out, "\nevents:\n")
	for _, e := range events {
		fmt.Fprintf(out, "  %s  %s\n", e.Time.Format("15:04:05.000"), e)
	}
	got, err := testclip.Load(flvPath)
	if err != nil {
		return fmt.Errorf("reading back %s: %w", flvPath, err)
	}
	fi, err := os.Stat(flvPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nwhat the RTMP server received (%s):\n", flvPath)
	fmt.Fprintf(out, "  %d video frames, %d audio frames, %.2f s, %d kbit/s\n", len(got.Video()), len(got.Audio()),
		got.Duration.Seconds(), int64(fi.Size())*8/1000/int64(max(1, got.Duration.Seconds())))
	if v, a := got.Video(), got.Audio(); len(v) > 0 && len(a) > 0 {
		fmt.Fprintf(out, "  audio starts %+d ms against video (audio before the first picture is held back; in the clip %+d ms)\n",
			(a[0].PTS - v[0].PTS).Milliseconds(), (clip.Audio()[0].PTS - clip.Video()[0].PTS).Milliseconds())
	}
	recs, _ := filepath.Glob(filepath.Join(recDir, "*", "*.mp4"))
	more, _ := filepath.Glob(filepath.Join(recDir, "*", "*", "*.mp4"))
	recs = append(recs, more...)
	sort.Strings(recs)
	fmt.Fprintf(out, "recordings:\n")
	for _, r := range recs {
		if fi, err := os.Stat(r); err == nil {
			fmt.Fprintf(out, "  %s (%d kB)\n", r, fi.Size()/1000)
		}
	}
	if len(recs) == 0 {
		return errors.New("no recording was written")
	}
	fmt.Fprintf(out, "\nplay them:\n  ffplay %s\n  ffplay %s\n  ffprobe -show_streams %s\n", flvPath, recs[len(recs)-1], recs[len(recs)-1])
	if o.keep {
		fmt.Fprintf(out, "\nstill running (-keep): call sip:demo@%s, or play the RTMP stream of a new call; Ctrl-C ends\n", bridge.UA().UDPAddr())
		<-ctx.Done()
	}
	return nil
}

// mediaAddrs returns where the answer wants video and audio.
