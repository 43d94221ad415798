// Package testmedia gives the tests the bundled clips (media/testclip) and the
// uploader's test recording.
package testmedia

import (
	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/testclip"
	"github.com/sipcast/sipcast/recording"
)

// Clip is a decoded clip (media/testclip).
type Clip = testclip.Clip

// Dir returns the directory of the clips' files.
func Dir() string { return testclip.Dir() }

// AV720p is the 4-second 1280x720 H.264 + AAC clip.
func AV720p() (*Clip, error) { return testclip.AV720p() }

// AudioOnly is the 4-second AAC clip.
func AudioOnly() (*Clip, error) { return testclip.AudioOnly() }

// Load reads an FLV file with H.264 and/or AAC.
func Load(path string) (*Clip, error) { return testclip.Load(path) }

// WriteRecording writes the AV720p clip at path as the recorder writes a call: a
// fragmented MP4 of H.264 + AAC, 4 s long (the uploader's "test recording").
func WriteRecording(path string) error {
	c, err := AV720p()
	if err != nil {
		return err
	}
	r, err := recording.Create(recording.Config{Path: path, NoSync: true,
		Video: &media.Track{Codec: media.CodecH264, SPS: c.SPS, PPS: c.PPS},
		Audio: &media.Track{Codec: media.CodecAAC, Config: c.AudioConfig}})
	if err != nil {
		return err
	}
	for i := range c.Frames {
		if err := r.WriteFrame(&c.Frames[i]); err != nil {
			_ = r.Close()
			return err
		}
	}
	return r.Close()
}
