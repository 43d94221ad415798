package rtmp

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"

	"github.com/sipcast/sipcast/rtmp/flv"
)

// TestPublisherToServer publishes the clip to the in-process server and reads back the
// FLV the server recorded (our bytes; the interop tests decode with ffprobe).
func TestPublisherToServer(t *testing.T) {
	peer.CheckNoLeaks(t)
	clip := loadClip(t)
	rec := &peer.FileRecorder{Dir: t.TempDir()}
	events, evOpt := serverEvents()
	srv, err := NewServer(WithRecorder(rec.Open), evOpt)
	require.NoError(t, err)
	defer srv.Close()
	addr, err := srv.Listen("127.0.0.1:0")
	require.NoError(t, err)

	p, err := NewPublisher("rtmp://"+addr.String()+"/live/test", clipOptions(clip)...)
	require.NoError(t, err)
	require.NoError(t, p.Ready(ctxT(t, 10*time.Second)))
	feed(t, p, clip, 1, false, nil)
	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "Close is idempotent")
	waitEvent(t, events, true, false, 10*time.Second)

	st := p.Stats()
	require.EqualValues(t, clip.VideoFrames, st.VideoFrames)
	require.EqualValues(t, clip.AudioFrames, st.AudioFrames)
	require.Equal(t, StateClosed, st.State)

	files := rec.List()
	require.Len(t, files, 1)
	b, err := os.ReadFile(files[0])
	require.NoError(t, err)
	r, err := flv.NewFileReader(bytes.NewReader(b))
	require.NoError(t, err)
	var tag flv.Tag
	video, audio, seq := 0, 0, 0
	for r.Read(&tag) == nil {
		switch tag.Type {
		case flv.TagVideo:
			var v flv.VideoTag
			require.NoError(t, v.Unmarshal(tag.Data))
			if v.PacketType == flv.PacketSequenceStart {
				seq++
			} else {
				video++
			}
		case flv.TagAudio:
			var a flv.AudioTag
			require.NoError(t, a.Unmarshal(tag.Data))
			if a.PacketType == flv.AACRaw {
				audio++
			}
		}
	}
	require.Equal(t, 1, seq)
	require.Equal(t, clip.VideoFrames, video)
	require.Equal(t, clip.AudioFrames, audio)
}
