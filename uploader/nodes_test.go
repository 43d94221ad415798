package uploader_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/recording"
	"github.com/sipcast/sipcast/uploader"
)

// A shared share where each node records under a directory of its own
// (<node>/spaces/<id>/, streamer -node): the recordings of every node, with the same
// name on two nodes, and those at the share's top are each uploaded once.
func TestNodeDirectories(t *testing.T) {
	e := newEnv(t)
	e.addRecording(t, "node-a/spaces/"+spaceID+"/"+stem+".mp4")
	e.addRecording(t, "node-b/spaces/"+spaceID+"/"+stem+".mp4")
	e.addRecording(t, "node-b/forwardedCalls/20260101130000+0000.mp4")
	e.addRecording(t, "spaces/"+spaceID+"/20260101140000+0000.mp4")
	e.addRecording(t, "notanode/"+stem+".mp4") // no spaces/ or forwardedCalls/ in it
	u := e.uploader(t, uploader.Policy{FallbackOwner: "admin"})
	scanUntilDone(t, u, 8)
	require.Len(t, e.rev.Videos(), 4)
	scanUntilDone(t, u, 2)
	require.Len(t, e.rev.Videos(), 4, "each once")
}

// RecoverAfter: a recording a crashed recorder left (.partial, no live recorder holding
// it) is finished and uploaded once it has not changed for that long; one a live
// Recorder is writing, and a young abandoned one, are left alone. Without RecoverAfter
// the uploader touches none.
func TestRecoversAbandonedRecordings(t *testing.T) {
	e := newEnv(t)
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	dir := filepath.Join(e.dir, "node-a", "spaces", spaceID)
	live, err := recording.Create(recording.Config{Path: filepath.Join(dir, "20260101150000+0000.mp4"), NoSync: true,
		Video: &media.Track{Codec: media.CodecH264, SPS: clip.SPS, PPS: clip.PPS},
		Audio: &media.Track{Codec: media.CodecAAC, Config: clip.AudioConfig}})
	require.NoError(t, err)
	for _, f := range clip.Interleaved() {
		require.NoError(t, live.WriteFrame(&f))
	}
	require.NoError(t, live.Wait())
	partial, err := os.ReadFile(live.Path() + recording.TempSuffix)
	require.NoError(t, err)
	// What a node killed mid-recording leaves: the same bytes, no recorder holding them.
	crashed := filepath.Join(dir, stem+".mp4"+recording.TempSuffix)
	young := filepath.Join(dir, "20260101160000+0000.mp4"+recording.TempSuffix)
	require.NoError(t, os.WriteFile(crashed, partial, 0o644))
	require.NoError(t, os.WriteFile(young, partial, 0o644))
	now := time.Now()
	old := now.Add(-10 * time.Minute)
	require.NoError(t, os.Chtimes(crashed, old, old))
	require.NoError(t, os.Chtimes(live.Path()+recording.TempSuffix, old, old))

	off := e.uploader(t, uploader.Policy{FallbackOwner: "admin"})
	require.NoError(t, off.Scan(context.Background()))
	_, err = os.Stat(crashed)
	require.NoError(t, err, "without RecoverAfter it is left for the recorder's restart")

	u := e.uploader(t, uploader.Policy{FallbackOwner: "admin"}, func(c *uploader.Config) {
		c.RecoverAfter = 2 * time.Minute
		c.Now = func() time.Time { return now }
	})
	require.NoError(t, u.Scan(context.Background())) // finishes it: the next scans take it
	_, err = os.Stat(filepath.Join(dir, stem+".mp4"))
	require.NoError(t, err, "recovered under its final name")
	scanUntilDone(t, u, 8)
	require.Len(t, e.rev.Videos(), 1, "the abandoned recording, recovered and uploaded")
	require.Equal(t, stem+".mp4", e.rev.Videos()[0].FileName)
	for _, p := range []string{live.Path() + recording.TempSuffix, young} {
		_, err := os.Stat(p)
		require.NoError(t, err, "left alone: %s", p)
	}
	require.NoError(t, live.Close())
}
