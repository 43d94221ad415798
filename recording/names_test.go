package recording_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/recording"
)

func create(t *testing.T, path string, sync bool) *recording.Recorder {
	t.Helper()
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	r, err := recording.Create(recording.Config{Path: path, NoSync: !sync,
		Video: &media.Track{Codec: media.CodecH264, SPS: clip.SPS, PPS: clip.PPS},
		Audio: &media.Track{Codec: media.CodecAAC, Config: clip.AudioConfig}})
	require.NoError(t, err)
	return r
}

func writeClip(t *testing.T, r *recording.Recorder) {
	t.Helper()
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	for _, f := range clip.Interleaved() {
		require.NoError(t, r.WriteFrame(&f))
	}
}

func decodes(t *testing.T, path string) {
	t.Helper()
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	probe, err := peer.FFprobe(t, time.Minute, path, "-show_packets")
	require.NoError(t, err, path)
	require.Equal(t, clip.VideoFrames, probe.Stream("video").Frames(), path)
	require.Equal(t, clip.AudioFrames, probe.Stream("audio").Frames(), path)
}

// Two calls recording in the same second (the CMS name has one-second resolution and
// standalone calls share forwardedCalls/), and a recording stopped and restarted in the
// same second: every recording is kept under its own name and decodes.
func TestInteropRecordingNamesNeverCollide(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 12, 1, 8, 30, 0, 0, time.UTC)
	want := recording.ForwardedCallPath(dir, at)
	a, b := create(t, want, false), create(t, want, false)
	require.NotEqual(t, a.Path(), b.Path())
	writeClip(t, a)
	writeClip(t, b)
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
	c := create(t, want, false) // restarted in the same second
	writeClip(t, c)
	require.NoError(t, c.Close())
	paths := []string{a.Path(), b.Path(), c.Path()}
	require.Equal(t, []string{want, filepath.Join(dir, "forwardedCalls", "20261201083000+0000-1.mp4"),
		filepath.Join(dir, "forwardedCalls", "20261201083000+0000-2.mp4")}, paths)
	for _, p := range paths {
		decodes(t, p)
	}
	left, err := filepath.Glob(filepath.Join(dir, "forwardedCalls", "*"+recording.TempSuffix))
	require.NoError(t, err)
	require.Empty(t, left)
}

// A file that appears under the final name while a recording runs (another program, a
// restored backup) is not replaced: the recording takes the next free name.
func TestRecordingFinalNameNotClobbered(t *testing.T) {
	dir := t.TempDir()
	want := filepath.Join(dir, "r.mp4")
	r := create(t, want, false)
	writeClip(t, r)
	require.NoError(t, os.WriteFile(want, []byte("somebody else's"), 0o644))
	require.NoError(t, r.Close())
	require.Equal(t, filepath.Join(dir, "r-1.mp4"), r.Path())
	b, err := os.ReadFile(want)
	require.NoError(t, err)
	require.Equal(t, "somebody else's", string(b))
}

// Every fragment is synced, and so is the directory after the file is created and after
// its final rename: removing any of those syncs fails this test.
func TestRecordingSyncs(t *testing.T) {
	r := create(t, filepath.Join(t.TempDir(), "s.mp4"), true)
	st := r.Stats()
	require.EqualValues(t, 1, st.FileSyncs, "the init segment")
	require.EqualValues(t, 1, st.DirSyncs, "the directory after create")
	writeClip(t, r)
	require.NoError(t, r.Close())
	st = r.Stats()
	require.Positive(t, st.Fragments)
	require.EqualValues(t, 1+int64(st.Fragments), st.FileSyncs, "one sync per fragment after the init segment")
	require.EqualValues(t, 2, st.DirSyncs, "the directory after the final rename")
}

// Recover, run while a recorder writes (a restarted streamer, or another streamer on the
// same share), leaves the live recording alone and recovers only the abandoned one; an
// abandoned recording whose final name exists is recovered under a suffixed name.
func TestRecoverLeavesLiveRecordings(t *testing.T) {
	dir := t.TempDir()
	live := create(t, filepath.Join(dir, "live.mp4"), true)
	writeClip(t, live)
	require.NoError(t, live.Wait())
	partial, err := os.ReadFile(live.Path() + recording.TempSuffix)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "crashed.mp4"+recording.TempSuffix), partial, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "taken.mp4"+recording.TempSuffix), partial, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "taken.mp4"), []byte("keep me"), 0o644))

	recovered, err := recording.Recover(dir)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{filepath.Join(dir, "crashed.mp4"), filepath.Join(dir, "taken-1.mp4")}, recovered)
	_, err = os.Stat(live.Path() + recording.TempSuffix)
	require.NoError(t, err, "the live recording's file was touched")
	b, err := os.ReadFile(filepath.Join(dir, "taken.mp4"))
	require.NoError(t, err)
	require.Equal(t, "keep me", string(b))

	require.NoError(t, live.Close()) // it finishes under its own name
	require.Equal(t, filepath.Join(dir, "live.mp4"), live.Path())
	_, err = os.Stat(live.Path())
	require.NoError(t, err)
}
