package rtmp

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/rtmp/flv"
)

// checkDecoded asserts what a peer decoded: h264 1280x720 and aac, frame counts within
// one of what was sent, duration within 0.2 s.
func checkDecoded(t *testing.T, pr *peer.Probe, clip *testmedia.Clip, loops int) {
	t.Helper()
	v, a := pr.Stream("video"), pr.Stream("audio")
	require.NotNil(t, v, "no video stream")
	require.NotNil(t, a, "no audio stream")
	require.Equal(t, "h264", v.CodecName)
	require.Equal(t, 1280, v.Width)
	require.Equal(t, 720, v.Height)
	require.Equal(t, "aac", a.CodecName)
	require.InDelta(t, loops*clip.VideoFrames, v.Frames(), 1, "video frames")
	require.InDelta(t, loops*clip.AudioFrames, a.Frames(), 1, "audio frames")
	want := time.Duration(loops) * clip.Duration
	require.InDelta(t, want.Seconds(), pr.Duration().Seconds(), 0.2, "duration")
}

func publishClip(t *testing.T, url string, clip *testmedia.Clip, opts ...PublisherOption) *Publisher {
	t.Helper()
	p, err := NewPublisher(url, append(clipOptions(clip), opts...)...)
	require.NoError(t, err)
	require.NoError(t, p.Ready(ctxT(t, 20*time.Second)))
	feed(t, p, clip, 1, false, nil)
	require.NoError(t, p.Close())
	st := p.Stats()
	require.EqualValues(t, clip.VideoFrames, st.VideoFrames)
	require.EqualValues(t, clip.AudioFrames, st.AudioFrames)
	require.Zero(t, st.DroppedVideo+st.DroppedAudio)
	return p
}

func TestInteropPublisherToNginx(t *testing.T) {
	clip := loadClip(t)
	n := peer.StartNginx(t, peer.NginxOptions{})
	publishClip(t, n.URL("plain"), clip)
	n.Stop() // closes the recording
	files := n.Recordings()
	require.Len(t, files, 1, "nginx recordings; log:\n%s", n.ErrorLog())
	pr, err := peer.FFprobe(t, time.Minute, files[0])
	require.NoError(t, err)
	checkDecoded(t, pr, clip, 1)
}

func TestInteropPublisherToNginxRTMPS(t *testing.T) {
	clip := loadClip(t)
	ca := peer.NewCA(t)
	n := peer.StartNginx(t, peer.NginxOptions{CertFile: ca.CertFile, KeyFile: ca.KeyFile})
	url := fmt.Sprintf("rtmps://localhost:%d/live/tls", n.TLSPort)

	t.Run("untrusted certificate names the host", func(t *testing.T) {
		p, err := NewPublisher(url, append(clipOptions(clip), WithMaxAttempts(1))...)
		require.NoError(t, err)
		<-p.Done()
		err = p.Err()
		require.ErrorIs(t, err, ErrTLSVerify)
		require.Contains(t, err.Error(), "localhost")
	})

	publishClip(t, url, clip, WithTLSConfig(&tls.Config{RootCAs: ca.Pool}))
	n.Stop()
	files := n.Recordings()
	require.Len(t, files, 1)
	pr, err := peer.FFprobe(t, time.Minute, files[0])
	require.NoError(t, err)
	checkDecoded(t, pr, clip, 1)
}

func TestInteropPublisherToFFmpegListen(t *testing.T) {
	clip := loadClip(t)
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	port := peer.FreePort(t)
	out := filepath.Join(t.TempDir(), "out.flv")
	url := fmt.Sprintf("rtmp://127.0.0.1:%d/live/s", port)
	proc := peer.Start(t, ffmpeg, "-hide_banner", "-loglevel", "warning", "-listen", "1", "-i", url, "-c", "copy", "-f", "flv", out)
	// The publisher retries (connection refused) until ffmpeg listens.
	publishClip(t, url, clip, WithBackoff(50*time.Millisecond, 200*time.Millisecond))
	require.NoError(t, proc.Wait(30*time.Second), proc.Output())
	pr, err := peer.FFprobe(t, time.Minute, out)
	require.NoError(t, err)
	checkDecoded(t, pr, clip, 1)
}

func TestInteropFFmpegToServerFFprobePlays(t *testing.T) {
	clip := loadClip(t)
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	peer.Require(t, "ffprobe", "ffmpeg")
	events, evOpt := serverEvents()
	srv, err := NewServer(evOpt)
	require.NoError(t, err)
	defer srv.Close()
	addr, err := srv.Listen("127.0.0.1:0")
	require.NoError(t, err)
	url := "rtmp://" + addr.String() + "/live/cam"

	probed := peer.FFprobeAsync(t, 2*time.Minute, url)
	waitEvent(t, events, false, true, 30*time.Second) // ffprobe is playing
	pub := peer.Start(t, ffmpeg, "-hide_banner", "-loglevel", "warning", "-re", "-i",
		filepath.Join(testmedia.Dir(), "av720p.flv"), "-c", "copy", "-f", "flv", url)
	require.NoError(t, pub.Wait(time.Minute), pub.Output())
	r := <-probed
	require.NoError(t, r.Err)
	checkDecoded(t, r.Probe, clip, 1)
}

// TestInteropReconnectNginx stops and restarts nginx three times during a 30-second
// publish.
func TestInteropReconnectNginx(t *testing.T) {
	peer.Serialize(t)
	if testing.Short() {
		t.Skip("30-second test")
	}
	clip := loadClip(t)
	n := peer.StartNginx(t, peer.NginxOptions{})
	log := newStateLog()
	p, err := NewPublisher(n.URL("flap"), append(clipOptions(clip), WithEvents(log.add))...)
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.Ready(ctxT(t, 10*time.Second)))
	stop := make(chan struct{})
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		feed(t, p, clip, 8, true, stop) // 32 s
	}()
	for i := 0; i < 3; i++ {
		time.Sleep(5 * time.Second) // the scenario's schedule: let it publish, not synchronisation
		n.Stop()
		log.waitState(t, StateRetrying, 10*time.Second)
		time.Sleep(time.Second) // server down for a second
		n.Start()
		up := time.Now()
		log.waitState(t, StatePublishing, 10*time.Second)
		resumed := time.Since(up)
		require.Less(t, resumed, 2*time.Second, "publisher resumed %v after the server came back", resumed)
	}
	<-fed
	require.NoError(t, p.Close())
	n.Stop()
	st := p.Stats()
	require.EqualValues(t, 3, st.Reconnects)

	files := n.Recordings()
	require.Len(t, files, 4, "one recording per publish session")
	for _, f := range files {
		for _, kind := range []string{"video", "audio"} {
			dts, err := peer.PacketTimes(t, f, kind)
			require.NoError(t, err)
			require.NotEmpty(t, dts, "%s: no %s", f, kind)
			for i := 1; i < len(dts); i++ {
				require.GreaterOrEqual(t, dts[i], dts[i-1], "%s: %s DTS went backwards at packet %d", f, kind, i)
			}
		}
		pr, err := peer.FFprobe(t, time.Minute, f)
		require.NoError(t, err)
		require.Equal(t, 1280, pr.Stream("video").Width, "each session starts decodable (keyframe + sequence header)")
	}
}

// TestInteropReconnectTimestampsAcrossSessions checks, with ffprobe on what the server
// received, that timestamps continue across reconnects (nginx rebases each recording to
// zero, so this uses the in-process server, restarted on the same port).
func TestInteropReconnectTimestampsAcrossSessions(t *testing.T) {
	peer.CheckNoLeaks(t)
	peer.Require(t, "ffprobe", "ffmpeg")
	clip := loadClip(t)
	rec := &peer.FileRecorder{Dir: t.TempDir()}
	port := peer.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	start := func() (*Server, chan StreamEvent) {
		ev, evOpt := serverEvents()
		srv, err := NewServer(WithRecorder(rec.Open), evOpt)
		require.NoError(t, err)
		_, err = srv.Listen(addr)
		require.NoError(t, err)
		return srv, ev
	}
	srv, ev := start()
	log := newStateLog()
	p, err := NewPublisher("rtmp://"+addr+"/live/x", append(clipOptions(clip), WithEvents(log.add), WithBackoff(20*time.Millisecond, 100*time.Millisecond))...)
	require.NoError(t, err)
	defer p.Close()
	for session := 0; session < 3; session++ {
		waitEvent(t, ev, true, true, 10*time.Second)
		log.waitState(t, StatePublishing, 10*time.Second)
		// One clip per session, continuing the timeline.
		for i := range clip.Frames {
			f := clip.Frames[i]
			f.DTS += time.Duration(session) * clip.Duration
			f.PTS += time.Duration(session) * clip.Duration
			p.WriteFrame(&f)
		}
		// Wait until the server has recorded this session's video before taking it down.
		for countVideoTags(rec.List()) < (session+1)*clip.VideoFrames {
			select {
			case <-time.After(10 * time.Millisecond): // polling the recording
			case <-p.Done():
				t.Fatal("publisher stopped")
			}
		}
		if session < 2 {
			require.NoError(t, srv.Close())
			waitEvent(t, ev, true, false, 10*time.Second)
			srv, ev = start()
		}
	}
	require.NoError(t, p.Close())
	waitEvent(t, ev, true, false, 10*time.Second)
	require.NoError(t, srv.Close())
	files := rec.List()
	require.Len(t, files, 3)
	last := int64(math.MinInt64)
	for _, f := range files {
		dts, err := peer.PacketTimes(t, f, "video")
		require.NoError(t, err)
		require.NotEmpty(t, dts)
		require.GreaterOrEqual(t, dts[0], last, "%s starts before the previous session ended", f)
		for i := 1; i < len(dts); i++ {
			require.GreaterOrEqual(t, dts[i], dts[i-1])
		}
		last = dts[len(dts)-1]
	}
	require.Greater(t, last, int64(2*clip.Duration/time.Millisecond), "timeline continued over three sessions")
}

func TestInteropUnknownApplicationNginx(t *testing.T) {
	clip := loadClip(t)
	n := peer.StartNginx(t, peer.NginxOptions{})
	p, err := NewPublisher(fmt.Sprintf("rtmp://broadcast:s3cr3tP4ss@127.0.0.1:%d/test/stream", n.Port), append(clipOptions(clip), WithMaxAttempts(1))...)
	require.NoError(t, err)
	<-p.Done()
	err = p.Err()
	require.ErrorIs(t, err, ErrClosedDuringConnect)
	require.Contains(t, err.Error(), `RTMP server closed the connection during connect: check the application name "test" in rtmp://127.0.0.1:`)
	require.NotContains(t, err.Error(), "s3cr3tP4ss")
}

func TestInteropBadNameNginx(t *testing.T) {
	clip := loadClip(t)
	n := peer.StartNginx(t, peer.NginxOptions{})
	first, err := NewPublisher(n.URL("dup"), clipOptions(clip)...)
	require.NoError(t, err)
	defer first.Close()
	require.NoError(t, first.Ready(ctxT(t, 10*time.Second)))
	second, err := NewPublisher(n.URL("dup"), append(clipOptions(clip), WithMaxAttempts(1))...)
	require.NoError(t, err)
	<-second.Done()
	require.ErrorIs(t, second.Err(), ErrBadName)
	require.Contains(t, second.Err().Error(), "NetStream.Publish.BadName")
}

func TestInteropAdobeAuth(t *testing.T) {
	peer.CheckNoLeaks(t)
	clip := loadClip(t)
	ffmpeg := peer.Require(t, "ffmpeg", "ffmpeg")
	rec := &peer.FileRecorder{Dir: t.TempDir()}
	events, evOpt := serverEvents()
	srv, err := NewServer(WithRecorder(rec.Open), evOpt, WithAdobeAuth(func(user string) (string, bool) {
		return "broadcast-pw", user == "broadcast"
	}))
	require.NoError(t, err)
	defer srv.Close()
	addr, err := srv.Listen("127.0.0.1:0")
	require.NoError(t, err)

	t.Run("ffmpeg authenticates against our server", func(t *testing.T) {
		url := "rtmp://broadcast:broadcast-pw@" + addr.String() + "/live/ff"
		pub := peer.Start(t, ffmpeg, "-hide_banner", "-loglevel", "warning", "-i",
			filepath.Join(testmedia.Dir(), "av720p.flv"), "-c", "copy", "-f", "flv", url)
		require.NoError(t, pub.Wait(time.Minute), pub.Output())
		waitEvent(t, events, true, false, 10*time.Second)
		files := rec.List()
		require.NotEmpty(t, files)
		pr, err := peer.FFprobe(t, time.Minute, files[len(files)-1])
		require.NoError(t, err)
		checkDecoded(t, pr, clip, 1)
	})
	t.Run("ffmpeg with a wrong password is refused", func(t *testing.T) {
		pub := peer.Start(t, ffmpeg, "-hide_banner", "-loglevel", "error", "-i",
			filepath.Join(testmedia.Dir(), "av720p.flv"), "-c", "copy", "-f", "flv", "rtmp://broadcast:nope@"+addr.String()+"/live/ff2")
		require.Error(t, pub.Wait(time.Minute))
	})
	t.Run("our publisher authenticates", func(t *testing.T) {
		publishClip(t, "rtmp://broadcast:broadcast-pw@"+addr.String()+"/live/ours", clip)
	})
	t.Run("wrong password gives a clear error", func(t *testing.T) {
		p, err := NewPublisher("rtmp://broadcast:wrong-pw@"+addr.String()+"/live/ours", append(clipOptions(clip), WithMaxAttempts(1))...)
		require.NoError(t, err)
		<-p.Done()
		require.ErrorIs(t, p.Err(), ErrAuthFailed)
		require.Contains(t, p.Err().Error(), `wrong password for user "broadcast"`)
		require.NotContains(t, p.Err().Error(), "wrong-pw")
	})
	t.Run("no credentials says to add them", func(t *testing.T) {
		p, err := NewPublisher("rtmp://"+addr.String()+"/live/ours", append(clipOptions(clip), WithMaxAttempts(1))...)
		require.NoError(t, err)
		<-p.Done()
		require.ErrorIs(t, p.Err(), ErrAuthRequired)
		require.True(t, strings.Contains(p.Err().Error(), "user:password"))
	})
}

// countVideoTags counts the complete video frame tags in FLV files being written.
func countVideoTags(files []string) int {
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		r, err := flv.NewFileReader(bytes.NewReader(b))
		if err != nil {
			continue
		}
		var tag flv.Tag
		for r.Read(&tag) == nil {
			var v flv.VideoTag
			if tag.Type == flv.TagVideo && v.Unmarshal(tag.Data) == nil && v.PacketType == flv.PacketCodedFrames {
				n++
			}
		}
	}
	return n
}

func TestInteropAudioOnlyAndG711Nginx(t *testing.T) {
	n := peer.StartNginx(t, peer.NginxOptions{})

	// The bundled audio-only AAC clip.
	audio, err := testmedia.AudioOnly()
	require.NoError(t, err)
	p, err := NewPublisher(n.URL("aac"), WithAudio(AudioTrack{Codec: media.CodecAAC, Config: audio.AudioConfig}))
	require.NoError(t, err)
	require.NoError(t, p.Ready(ctxT(t, 10*time.Second)))
	feed(t, p, audio, 1, false, nil)
	require.NoError(t, p.Close())

	// Two seconds of G.711 µ-law, 20 ms frames: a 400 Hz tone encoded by hand (G.711 §A).
	pcmu, err := NewPublisher(n.URL("pcmu"), WithAudio(AudioTrack{Codec: media.CodecPCMU}))
	require.NoError(t, err)
	require.NoError(t, pcmu.Ready(ctxT(t, 10*time.Second)))
	const frames = 100
	for i := 0; i < frames; i++ {
		data := make([]byte, 160)
		for j := range data {
			s := int16(8000 * math.Sin(2*math.Pi*400*float64(i*160+j)/8000))
			data[j] = linearToMuLaw(s)
		}
		f := media.Frame{Codec: media.CodecPCMU, DTS: time.Duration(i) * 20 * time.Millisecond, Data: data}
		f.PTS = f.DTS
		require.True(t, pcmu.WriteFrame(&f))
	}
	require.NoError(t, pcmu.Close())
	n.Stop()

	var aacFile, pcmuFile string
	for _, f := range n.Recordings() {
		switch {
		case strings.Contains(filepath.Base(f), "aac"):
			aacFile = f
		case strings.Contains(filepath.Base(f), "pcmu"):
			pcmuFile = f
		}
	}
	pr, err := peer.FFprobe(t, time.Minute, aacFile)
	require.NoError(t, err)
	require.Nil(t, pr.Stream("video"), "an audio-only publish makes an audio-only stream")
	require.Equal(t, "aac", pr.Stream("audio").CodecName)
	require.InDelta(t, audio.AudioFrames, pr.Stream("audio").Frames(), 1)
	require.InDelta(t, audio.Duration.Seconds(), pr.Duration().Seconds(), 0.2)

	pr, err = peer.FFprobe(t, time.Minute, pcmuFile)
	require.NoError(t, err)
	require.Equal(t, "pcm_mulaw", pr.Stream("audio").CodecName)
	require.InDelta(t, frames, pr.Stream("audio").Frames(), 1)
	require.InDelta(t, 2.0, pr.Duration().Seconds(), 0.2)
}

// linearToMuLaw is the G.711 µ-law encoder (ITU-T G.711, with the usual bias of 0x84).
func linearToMuLaw(s int16) byte {
	const bias, clip = 0x84, 32635
	sign := byte(0)
	v := int(s)
	if v < 0 {
		v, sign = -v, 0x80
	}
	if v > clip {
		v = clip
	}
	v += bias
	exp := 7
	for mask := 0x4000; v&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (v >> (exp + 3)) & 0x0f
	return ^(sign | byte(exp<<4) | byte(mant))
}

// A player that says nothing while it watches must not be cut off by the server's idle
// timeout, and a publisher that keeps sending must not be either.
func TestInteropSilentPlayerOutlivesIdleTimeout(t *testing.T) {
	peer.CheckNoLeaks(t)
	clip := loadClip(t)
	peer.Require(t, "ffprobe", "ffmpeg")
	events, evOpt := serverEvents()
	srv, err := NewServer(evOpt, WithIdleTimeout(500*time.Millisecond))
	require.NoError(t, err)
	defer srv.Close()
	addr, err := srv.Listen("127.0.0.1:0")
	require.NoError(t, err)
	url := "rtmp://" + addr.String() + "/live/long"
	probed := peer.FFprobeAsync(t, time.Minute, url)
	waitEvent(t, events, false, true, 30*time.Second)
	p, err := NewPublisher(url, clipOptions(clip)...)
	require.NoError(t, err)
	require.NoError(t, p.Ready(ctxT(t, 10*time.Second)))
	feed(t, p, clip, 1, true, nil) // 4 s in real time: eight idle timeouts
	require.NoError(t, p.Close())
	r := <-probed
	require.NoError(t, r.Err)
	checkDecoded(t, r.Probe, clip, 1)
}
