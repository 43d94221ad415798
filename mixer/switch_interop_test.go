package mixer_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/stage"
	"github.com/sipcast/sipcast/mixer"
	"github.com/sipcast/sipcast/recording"
	"github.com/sipcast/sipcast/rtmp"
)

// decodedPictures is what ffprobe decodes of a file's video: each picture's key_frame
// flag and size ("1,1280,720"), in order, and what its decoder and parser reported.
func decodedPictures(t *testing.T, file string) (pics []string, errs string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, peer.Require(t, "ffprobe", "ffmpeg"), "-v", "error", "-select_streams", "v",
		"-show_entries", "frame=key_frame,width,height", "-of", "csv=p=0", file)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s", stderr.String())
	return strings.Fields(string(out)), strings.TrimSpace(stderr.String())
}

// runs collapses a picture list into its runs: "1280,720 x12".
func runs(pics []string) []string {
	var out []string
	var last string
	n := 0
	for _, p := range pics {
		f := strings.Split(p, ",") // key_frame, width, height (and side data's fields)
		size := f[1] + "," + f[2]
		if size != last && n > 0 {
			out = append(out, last)
		}
		if size != last {
			n = 0
		}
		last = size
		n++
	}
	if n > 0 {
		out = append(out, last)
	}
	return out
}

// The active speaker's video through the switch to nginx-rtmp and to our recording:
// the 720p clip, then the 320x240 black pictures from the switch on their IDR, then
// the clip again from its keyframe. ffprobe decodes both outputs without an error, the
// picture changes size at each switch and every switch is on a keyframe.
func TestInteropVideoSwitchIntoFLVAndMP4(t *testing.T) {
	peer.Serialize(t)
	peer.Require(t, "ffmpeg", "ffmpeg")
	ng := peer.StartNginx(t, peer.NginxOptions{})
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	feed := newSwitchFeed(t)
	pub, err := rtmp.NewPublisher(ng.URL("speaker"), rtmp.WithTracks(media.Track{Codec: media.CodecH264, ClockRate: 90000, SPS: clip.SPS, PPS: clip.PPS, Width: 1280, Height: 720}))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, pub.Ready(ctx))
	mp4 := filepath.Join(t.TempDir(), "speaker.mp4")
	rec, err := recording.Create(recording.Config{Path: mp4, NoSync: true,
		Video: &media.Track{Codec: media.CodecH264, SPS: clip.SPS, PPS: clip.PPS}})
	require.NoError(t, err)
	toPub := media.FrameWriterFunc(func(f *media.Frame) error { pub.WriteFrame(f); return nil }) // it copies, never blocks
	sw := mixer.NewVideoSwitch(2, mixer.VideoSwitchConfig{Next: stage.NewTee(toPub, rec)})
	sw.Select(0)
	selected := map[time.Duration]int{500 * time.Millisecond: 1, 5 * time.Second: 0}
	for k, fr := range feed.frames {
		for at, i := range selected {
			if fr.f.DTS >= at {
				sw.Select(i)
				delete(selected, at)
			}
		}
		require.NoError(t, sw.Input(fr.input).WriteFrame(&fr.f))
		if k%20 == 19 { // the publisher's queue takes what it is given: keep it short
			require.Eventually(t, func() bool { return pub.Stats().Queued == 0 }, 10*time.Second, time.Millisecond)
		}
	}
	require.EqualValues(t, 3, sw.Stats().Switches)
	require.NoError(t, pub.Close())
	require.Zero(t, pub.Stats().DroppedVideo)
	require.NoError(t, rec.Close())
	require.Eventually(t, func() bool { return len(ng.Recordings()) == 1 }, 10*time.Second, 10*time.Millisecond)

	for _, file := range []string{ng.Recordings()[0], rec.Path()} {
		pics, errs := decodedPictures(t, file)
		require.Empty(t, errs, "ffprobe decoding %s", file)
		require.Equal(t, []string{"1280,720", "320,240", "1280,720"}, runs(pics), "%s", file)
		for i := 1; i < len(pics); i++ {
			if runs(pics[i-1 : i])[0] != runs(pics[i : i+1])[0] {
				require.True(t, strings.HasPrefix(pics[i], "1,"), "picture %d of %s, the first after a switch, is a keyframe", i, file)
			}
		}
		t.Logf("%s: %d pictures decoded", filepath.Base(file), len(pics))
	}
}
