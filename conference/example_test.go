package conference_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"time"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/aac"
	"github.com/sipcast/sipcast/media/rtpsend"
	"github.com/sipcast/sipcast/media/testclip"
	"github.com/sipcast/sipcast/sip"
)

// A CMS-style streamer and recorder: calls stream to the URL they carry (x-cisco-stream)
// or to a default, and are recorded under /recordings/spaces/<space>/.
func ExampleNew() {
	b, err := conference.New(conference.Config{
		SIP:       []sip.Option{sip.WithUDP("0.0.0.0:7000"), sip.WithTCP("0.0.0.0:7000"), sip.WithCallLimit(50)},
		StreamURL: "rtmp://127.0.0.1/live/default",
		RecordDir: "/recordings",
		SpaceID:   func(c *sip.Call) string { v, _ := c.ContactParam("x-space-id"); return v },
		Events:    func(e conference.Event) { fmt.Println(e) }, // "call 12: streaming started to rtmp://..."
	})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close() // BYE to every call, recordings finalized
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	<-ctx.Done()
}

// A custom streamer: an application output that receives every call's frames, gated at
// the first keyframe with its parameter sets, audio held for the picture and gaps filled
// with silence, on the call's one timeline. Here it counts them; an HLS muxer, a preview
// or an analytics tap is written the same way. A caller in this process sends the
// bundled clip.
func ExampleConfig_outputs() {
	var keyframes, video int
	all, done := make(chan struct{}), make(chan struct{})
	b, _ := conference.New(conference.Config{
		SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")},
		Outputs: []conference.OutputFunc{func(call conference.CallInfo, tracks []media.Track) (media.FrameWriter, error) {
			fmt.Printf("call with %d tracks, video %dx%d\n", len(tracks), tracks[0].Width, tracks[0].Height)
			return counter{func(f *media.Frame) {
				if f.Codec.IsVideo() {
					video++
					if f.Keyframe {
						keyframes++
					}
					if video == 100 { // the clip's last frame (reordered B-frames come last)
						close(all)
					}
				}
			}, done}, nil
		}},
	})
	defer b.Close()

	clip, _ := testclip.AV720p()
	call, conn, sender := callIn(b, clip) // an in-process SIP caller sending RTP
	defer conn.Close()
	_ = sender.Play(context.Background(), clip.Interleaved(), 0, 0, nil)
	select {
	case <-all:
	case <-time.After(30 * time.Second): // frames lost: the output below says so
	}
	_ = call.Hangup(context.Background())
	<-done // the output is closed when the call ends
	fmt.Printf("%d video frames, %d keyframes\n", video, keyframes)
	// Output:
	// call with 2 tracks, video 1280x720
	// 100 video frames, 4 keyframes
}

// counter is a media.FrameWriter that is closed when its call ends.
type counter struct {
	count func(*media.Frame)
	done  chan struct{}
}

func (c counter) WriteFrame(f *media.Frame) error { c.count(f); return nil }
func (c counter) Close() error                    { close(c.done); return nil }

// callIn places a call into b from an in-process caller and returns the caller's RTP
// sender for the clip.
func callIn(b *conference.Bridge, clip *testclip.Clip) (*sip.OutboundCall, *net.UDPConn, *rtpsend.Sender) {
	caller, _ := sip.New(sip.WithUDP("127.0.0.1:0"))
	conn, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	local := conn.LocalAddr().(*net.UDPAddr)
	ac, _ := aac.ParseConfig(clip.AudioConfig)
	offer := rtpsend.SDP(local.IP, local.Port, local.Port, clip.SPS, clip.PPS, clip.AudioConfig, ac.SampleRate, ac.Channels)
	call, err := caller.Dial(context.Background(), "sip:stream@"+b.UA().UDPAddr().String(), offer, sip.DialOptions{})
	if err != nil {
		log.Fatal(err)
	}
	sender, _ := rtpsend.ForAnswer(conn, call.Answer, clip.SPS, clip.PPS, ac.SampleRate)
	go func() { <-call.Done(); caller.Close() }()
	return call, conn, sender
}
