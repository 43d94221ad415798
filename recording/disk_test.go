package recording_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/peer"
	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/recording"
)

// looped returns the clip's frames n times over, each loop after the last.
func looped(t *testing.T, n int) []media.Frame {
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	var out []media.Frame
	for i := 0; i < n; i++ {
		for _, f := range clip.Interleaved() {
			f.DTS += time.Duration(i) * clip.Duration
			f.PTS += time.Duration(i) * clip.Duration
			out = append(out, f)
		}
	}
	return out
}

func videoBefore(frames []media.Frame, dts time.Duration) int {
	n := 0
	for _, f := range frames {
		if f.Codec.IsVideo() && f.DTS < dts {
			n++
		}
	}
	return n
}

// A disk that stops taking data: fragments queue (up to 8) while WriteFrame goes on
// without waiting, then the recording fails with ErrDiskTooSlow. When the disk comes
// back, Close writes every fragment that was queued: the file decodes with every frame
// of the fragments before the one that did not fit.
func TestInteropDiskTooSlowLosesNothingWritten(t *testing.T) {
	frames := looped(t, 5) // 20 s: more fragments than the queue holds
	dir := t.TempDir()
	r := create(t, filepath.Join(dir, "slow.mp4"), true)
	release := recording.StallWrites(r)
	var failedAt time.Duration
	for i := range frames {
		if err := r.WriteFrame(&frames[i]); err != nil {
			require.ErrorIs(t, err, recording.ErrDiskTooSlow)
			failedAt = frames[i].DTS
			break
		}
	}
	require.NotZero(t, failedAt, "20 s of fragments never filled the queue")
	release()
	require.ErrorIs(t, r.Close(), recording.ErrDiskTooSlow)
	probe, err := peer.FFprobe(t, time.Minute, r.Path(), "-show_packets")
	require.NoError(t, err)
	// The fragment that did not fit is lost: up to one fragment (and the frames after
	// its cut) before failedAt.
	want := videoBefore(frames, failedAt-recording.MaxFragmentDuration)
	require.GreaterOrEqual(t, probe.Stream("video").Frames(), want, "frames of queued fragments lost (failed at %v)", failedAt)
	t.Logf("failed at %v; %d video frames kept (at least %d wanted)", failedAt, probe.Stream("video").Frames(), want)
}

// A full disk (a small tmpfs; ENOSPC): the recording fails with the error, and what was
// on disk before (everything Wait confirmed) is still there and decodes.
func TestInteropDiskFullLosesNothingWritten(t *testing.T) {
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=768k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	frames := looped(t, 3)
	r := create(t, filepath.Join(dir, "full.mp4"), true)
	var confirmed time.Duration // media up to here is on disk
	var werr error
	for i := range frames {
		if werr = r.WriteFrame(&frames[i]); werr != nil {
			break
		}
		if i%100 == 99 {
			if werr = r.Wait(); werr != nil {
				break
			}
			confirmed = frames[i].DTS
		}
	}
	if werr == nil {
		werr = r.Close()
	} else {
		_ = r.Close()
	}
	require.Error(t, werr, "12 s of 720p fit in 768 KiB")
	require.True(t, errors.Is(werr, syscall.ENOSPC), "the error says the disk is full: %v", werr)
	require.Positive(t, confirmed, "nothing was confirmed before the disk filled")
	path := r.Path()
	if _, err := os.Stat(path); err != nil {
		path += recording.TempSuffix
	}
	probe, err := peer.FFprobe(t, time.Minute, path, "-show_packets")
	require.NoError(t, err)
	want := videoBefore(frames, confirmed-recording.MaxFragmentDuration)
	require.GreaterOrEqual(t, probe.Stream("video").Frames(), want, "frames confirmed on disk were lost")
	t.Logf("confirmed %v on disk; %d video frames decode (at least %d wanted)", confirmed, probe.Stream("video").Frames(), want)
}
