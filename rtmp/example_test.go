package rtmp_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/testclip"
	"github.com/sipcast/sipcast/rtmp"
)

// Publish the bundled test clip to an in-process server.
func ExamplePublisher() {
	srv, _ := rtmp.NewServer()
	defer srv.Close()
	addr, _ := srv.Listen("127.0.0.1:0")

	clip, _ := testclip.AV720p()
	p, err := rtmp.NewPublisher("rtmp://"+addr.String()+"/live/demo",
		rtmp.WithVideo(rtmp.VideoTrack{Codec: media.CodecH264, SPS: clip.SPS, PPS: clip.PPS}),
		rtmp.WithAudio(rtmp.AudioTrack{Codec: media.CodecAAC, Config: clip.AudioConfig}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Ready(ctx); err != nil {
		fmt.Println(err)
		return
	}
	for i := range clip.Frames {
		p.WriteFrame(&clip.Frames[i]) // copies; never blocks
	}
	p.Close() // sends what is queued, then unpublishes
	st := p.Stats()
	fmt.Println(st.VideoFrames, "video frames,", st.AudioFrames, "audio frames")
	// Output: 100 video frames, 189 audio frames
}

// Errors say what to check, and never show the password.
func ExampleParseURL() {
	u, _ := rtmp.ParseURL("rtmp://broadcast:broadcast@10.106.81.40/live/SpaceStream77")
	fmt.Println(u.App, u.Stream, u.Port)
	fmt.Println(u)
	u, _ = rtmp.ParseURL("rtmp://10.106.81.40/test")
	fmt.Printf("app=%q stream=%q\n", u.App, u.Stream)
	// Output:
	// live SpaceStream77 1935
	// rtmp://10.106.81.40/live/****am77
	// app="test" stream=""
}
