// Package testclip is the bundled test media: a 4-second 1280x720 H.264 + AAC clip and a
// 4-second AAC clip (see README.md in this directory for how they were made), embedded,
// decoded as media.Frames. The demo, the Examples and the tests use it; so can an
// application's own tests of a pipeline.
package testclip

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/h264"
	"github.com/sipcast/sipcast/rtmp/flv"
)

//go:embed av720p.flv
var av720p []byte

//go:embed audio.flv
var audioOnly []byte

// Clip is a decoded clip.
type Clip struct {
	Frames []media.Frame // in file order (DTS order)
	// SPS, PPS: the H.264 parameter sets; AudioConfig the AAC AudioSpecificConfig.
	SPS, PPS    []byte
	AudioConfig []byte
	// VideoFrames and AudioFrames count the frames of each kind.
	VideoFrames, AudioFrames int
	// Duration is the time from the first frame to the end of the last one.
	Duration time.Duration
}

// AV720p is the 4-second 1280x720 H.264 (Main, 25 fps, 2 s GOP) + AAC-LC 48 kHz clip.
func AV720p() (*Clip, error) { return Parse(av720p) }

// AudioOnly is the 4-second AAC clip.
func AudioOnly() (*Clip, error) { return Parse(audioOnly) }

// Dir is the directory holding the clips' files, for programs that read them (ffmpeg
// in tests). It is the package's source directory, so it exists only where the module's
// source is (a checkout or the module cache).
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// Load reads an FLV file with H.264 and/or AAC.
func Load(path string) (*Clip, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

// Parse decodes an FLV file's bytes with H.264 and/or AAC.
func Parse(b []byte) (*Clip, error) {
	r, err := flv.NewFileReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	c := &Clip{}
	var tag flv.Tag
	var lastAudio, lastVideo time.Duration
	for r.Read(&tag) == nil {
		ts := time.Duration(tag.Timestamp) * time.Millisecond
		switch tag.Type {
		case flv.TagVideo:
			var v flv.VideoTag
			if err := v.Unmarshal(tag.Data); err != nil {
				return nil, err
			}
			if v.PacketType == flv.PacketSequenceStart {
				var cfg h264.AVCConfig
				if err := cfg.Unmarshal(v.Data); err != nil {
					return nil, err
				}
				if len(cfg.SPS) == 0 || len(cfg.PPS) == 0 {
					return nil, fmt.Errorf("testclip: no SPS/PPS")
				}
				c.SPS, c.PPS = bytes.Clone(cfg.SPS[0]), bytes.Clone(cfg.PPS[0])
				continue
			}
			if v.PacketType != flv.PacketCodedFrames {
				continue
			}
			c.Frames = append(c.Frames, media.Frame{
				Codec: media.CodecH264, DTS: ts, PTS: ts + time.Duration(v.CompositionTime)*time.Millisecond,
				Keyframe: v.FrameType == flv.FrameKey, Data: bytes.Clone(v.Data),
			})
			c.VideoFrames++
			lastVideo = ts + 40*time.Millisecond
		case flv.TagAudio:
			var a flv.AudioTag
			if err := a.Unmarshal(tag.Data); err != nil {
				return nil, err
			}
			if a.PacketType == flv.AACSequenceHeader {
				c.AudioConfig = bytes.Clone(a.Data)
				continue
			}
			c.Frames = append(c.Frames, media.Frame{Codec: media.CodecAAC, DTS: ts, PTS: ts, Data: bytes.Clone(a.Data)})
			c.AudioFrames++
			lastAudio = ts + 1024*time.Second/48000
		}
	}
	c.Duration = max(lastAudio, lastVideo)
	return c, nil
}

// Video returns the clip's video frames in decoding order.
func (c *Clip) Video() []media.Frame { return c.frames(true) }

// Audio returns the clip's audio frames.
func (c *Clip) Audio() []media.Frame { return c.frames(false) }

// Interleaved returns both tracks' frames merged in decode order, as a sender sends them.
func (c *Clip) Interleaved() []media.Frame {
	v, a := c.Video(), c.Audio()
	out := make([]media.Frame, 0, len(v)+len(a))
	for len(v) > 0 || len(a) > 0 {
		if len(a) == 0 || (len(v) > 0 && v[0].DTS <= a[0].DTS) {
			out, v = append(out, v[0]), v[1:]
		} else {
			out, a = append(out, a[0]), a[1:]
		}
	}
	return out
}

func (c *Clip) frames(video bool) []media.Frame {
	var out []media.Frame
	for _, f := range c.Frames {
		if f.Codec.IsVideo() == video {
			out = append(out, f)
		}
	}
	return out
}
