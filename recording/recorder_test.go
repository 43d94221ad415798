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

// The clip recorded and closed: ffprobe decodes every frame of both tracks at the clip's
// resolution and duration, and the tracks start together.
// DTS may start anywhere, negative too (a bridge's clock starts at the call, the first
// frames come from before it).
func TestInteropRecordingFFprobe(t *testing.T) {
	for _, origin := range []time.Duration{0, -73 * time.Millisecond, 5 * time.Hour} {
		t.Run(origin.String(), func(t *testing.T) { testRecordingFFprobe(t, origin) })
	}
}

func testRecordingFFprobe(t *testing.T, origin time.Duration) {
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "spaces", "77", "rec.mp4")
	r, err := recording.Create(recording.Config{Path: path, NoSync: true,
		Video: &media.Track{Codec: media.CodecH264, SPS: clip.SPS, PPS: clip.PPS},
		Audio: &media.Track{Codec: media.CodecAAC, Config: clip.AudioConfig}})
	require.NoError(t, err)
	_, err = os.Stat(path + recording.TempSuffix)
	require.NoError(t, err, "written under the temporary name")
	for _, f := range clip.Interleaved() {
		f.DTS += origin
		f.PTS += origin
		require.NoError(t, r.WriteFrame(&f))
	}
	require.NoError(t, r.Close())
	require.NoError(t, r.Close(), "idempotent")
	_, err = os.Stat(path + recording.TempSuffix)
	require.True(t, os.IsNotExist(err), "renamed on close")

	probe, err := peer.FFprobe(t, time.Minute, path, "-show_packets")
	require.NoError(t, err)
	v, a := probe.Stream("video"), probe.Stream("audio")
	require.NotNil(t, v)
	require.NotNil(t, a)
	require.Equal(t, "h264", v.CodecName)
	require.Equal(t, 1280, v.Width)
	require.Equal(t, 720, v.Height)
	require.Equal(t, clip.VideoFrames, v.Frames())
	require.Equal(t, "aac", a.CodecName)
	require.Equal(t, clip.AudioFrames, a.Frames())
	require.InDelta(t, clip.Duration.Seconds(), probe.Duration().Seconds(), 0.1)
	require.InDelta(t, (clip.Audio()[0].PTS - clip.Video()[0].PTS).Seconds(), probe.StartTime(a.Index)-probe.StartTime(v.Index), 0.005,
		"A/V start offset as in the source")
}

// Without Close (what a crash leaves: every fragment is synced as written), the file
// decodes up to the last fragment, which is at most MaxFragmentDuration behind; Recover
// gives it its final name.
func TestInteropRecordingCrash(t *testing.T) {
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	dir := t.TempDir()
	path := recording.SpacePath(dir, "space 1", time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC))
	require.Equal(t, filepath.Join(dir, "spaces", "space_1", "20261122103000+0000.mp4"), path)
	r, err := recording.Create(recording.Config{Path: path,
		Video: &media.Track{Codec: media.CodecH264, SPS: clip.SPS, PPS: clip.PPS},
		Audio: &media.Track{Codec: media.CodecAAC, Config: clip.AudioConfig}})
	require.NoError(t, err)
	frames := clip.Interleaved()
	var last time.Duration
	for _, f := range frames {
		require.NoError(t, r.WriteFrame(&f))
		last = f.DTS
	}
	require.NoError(t, r.Wait()) // (in real time the writer keeps up; here frames came at once)
	// The "crash": the process is gone, the file stays as it is on disk.
	crashed := filepath.Join(dir, "copy.mp4"+recording.TempSuffix)
	b, err := os.ReadFile(path + recording.TempSuffix)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(crashed, b, 0o644))
	require.NoError(t, r.Close())

	recovered, err := recording.Recover(dir)
	require.NoError(t, err)
	require.Equal(t, []string{filepath.Join(dir, "copy.mp4")}, recovered)
	probe, err := peer.FFprobe(t, time.Minute, recovered[0], "-show_packets")
	require.NoError(t, err)
	require.NotNil(t, probe.Stream("video"))
	require.NotNil(t, probe.Stream("audio"))
	lost := last - clip.Video()[0].DTS - probe.Duration()
	require.Less(t, lost, recording.MaxFragmentDuration, "decodable up to the last fragment")
	require.Positive(t, probe.Stream("video").Frames())
}

// An audio-only recording.
func TestInteropRecordingAudioOnly(t *testing.T) {
	clip, err := testmedia.AudioOnly()
	require.NoError(t, err)
	path := recording.ForwardedCallPath(t.TempDir(), time.Now())
	r, err := recording.Create(recording.Config{Path: path, NoSync: true,
		Audio: &media.Track{Codec: media.CodecAAC, Config: clip.AudioConfig}})
	require.NoError(t, err)
	for _, f := range clip.Audio() {
		require.NoError(t, r.WriteFrame(&f))
	}
	require.NoError(t, r.Close())
	probe, err := peer.FFprobe(t, time.Minute, path, "-show_packets")
	require.NoError(t, err)
	require.Nil(t, probe.Stream("video"))
	require.Equal(t, clip.AudioFrames, probe.Stream("audio").Frames())
	require.InDelta(t, clip.Duration.Seconds(), probe.Duration().Seconds(), 0.1)
}

func TestRecordingErrors(t *testing.T) {
	_, err := recording.Create(recording.Config{Path: filepath.Join(t.TempDir(), "x.mp4")})
	require.ErrorIs(t, err, recording.ErrNoTrack)
	_, err = recording.Create(recording.Config{Path: filepath.Join(t.TempDir(), "x.mp4"), Video: &media.Track{Codec: media.CodecH264, SPS: []byte{1}}})
	require.ErrorContains(t, err, "SPS")
	clip, err := testmedia.AudioOnly()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "empty.mp4")
	r, err := recording.Create(recording.Config{Path: path, NoSync: true, Audio: &media.Track{Codec: media.CodecAAC, Config: clip.AudioConfig}})
	require.NoError(t, err)
	require.ErrorContains(t, r.Close(), "no media")
	_, err = os.Stat(path + recording.TempSuffix)
	require.True(t, os.IsNotExist(err), "an empty recording leaves no file")
	require.ErrorIs(t, r.WriteFrame(&media.Frame{Codec: media.CodecAAC}), recording.ErrClosed)
}
