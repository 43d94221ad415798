package conference_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/sipcast/sipcast/conference"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/testclip"
	"github.com/sipcast/sipcast/sip"
	"github.com/sipcast/sipcast/sip/siptest"
)

// A CMS-style streamer and recorder: calls stream to the URL they carry (x-cisco-stream)
// or to StreamURL (none here), and are recorded under RecordDir: spaces/<space>/ when
// SpaceID names the call's space, forwardedCalls/ otherwise. A caller in this process
// sends the bundled clip; the events read like the CMS log ("call 12: recording
// started: ..."), here only their types.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "recordings")
	defer os.RemoveAll(dir)
	ended := make(chan struct{})
	b, err := conference.New(conference.Config{
		SIP:       []sip.Option{sip.WithUDP("127.0.0.1:0"), sip.WithCallLimit(50)},
		RecordDir: dir,
		SpaceID:   func(c *sip.Call) string { v, _ := c.ContactParam("x-space-id"); return v },
		Events: func(e conference.Event) {
			fmt.Println(e.Type)
			if e.Type == conference.EventCallEnded {
				close(ended)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close() // BYE to every call, recordings finalized

	clip, _ := testclip.AV720p()
	call, err := siptest.Dial(context.Background(), b.UA().UDPAddr().String(), clip, siptest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	_ = call.Play(context.Background())
	_ = call.Close()
	<-ended
	// Output:
	// call started
	// recording started
	// recording finished
	// call ended
}

// A custom streamer: an application output that receives every call's frames, gated at
// the first keyframe with its parameter sets, audio held for the picture and gaps filled
// with silence, on the call's one timeline. Here it counts them; an HLS muxer, a preview
// or an analytics tap is written the same way. A caller in this process (sip/siptest)
// sends the bundled clip.
func ExampleConfig_outputs() {
	var frames, keyframes int
	ended := make(chan struct{})
	b, _ := conference.New(conference.Config{
		SIP: []sip.Option{sip.WithUDP("127.0.0.1:0")},
		Outputs: []conference.OutputFunc{func(call conference.CallInfo, tracks []media.Track) (media.FrameWriter, error) {
			fmt.Printf("%d tracks, video %dx%d\n", len(tracks), tracks[0].Width, tracks[0].Height)
			return counter{func(f *media.Frame) {
				if f.Codec.IsVideo() {
					frames++
					if f.Keyframe {
						keyframes++
					}
				}
			}, ended}, nil
		}},
	})
	defer b.Close()

	clip, _ := testclip.AV720p()
	call, _ := siptest.Dial(context.Background(), b.UA().UDPAddr().String(), clip, siptest.Options{})
	_ = call.Play(context.Background())
	_ = call.Close() // hangs up: the output is closed when the call has ended
	<-ended
	fmt.Printf("%d video frames, %d keyframes\n", frames, keyframes)
	// Output:
	// 2 tracks, video 1280x720
	// 100 video frames, 4 keyframes
}

// counter is a media.FrameWriter that is closed when its call ends.
type counter struct {
	count func(*media.Frame)
	ended chan struct{}
}

func (c counter) WriteFrame(f *media.Frame) error { c.count(f); return nil }
func (c counter) Close() error                    { close(c.ended); return nil }
