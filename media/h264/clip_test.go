package h264_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/internal/testmedia"
	"github.com/sipcast/sipcast/media/h264"
)

// The clip's SPS must parse to the size ffprobe reports for the file (1280x720).
func TestParseSPSOfTestClip(t *testing.T) {
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	s, err := h264.ParseSPS(clip.SPS)
	require.NoError(t, err)
	require.Equal(t, 1280, s.Width)
	require.Equal(t, 720, s.Height)
}

// x264 with 2 B-frames in a pyramid writes max_num_reorder_frames 2 in the VUI.
func TestSPSReorderFramesOfTestClip(t *testing.T) {
	clip, err := testmedia.AV720p()
	require.NoError(t, err)
	s, err := h264.ParseSPS(clip.SPS)
	require.NoError(t, err)
	require.Equal(t, 2, s.MaxNumReorderFrames)
	require.EqualValues(t, 50, s.TimeScale/s.NumUnitsInTick, "25 fps as two fields per frame")
}
