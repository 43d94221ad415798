// Package testmedia loads the clips in testdata/ (see testdata/README.md) as media.Frames,
// for tests and the demo.
package testmedia

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/h264"
	"github.com/sipcast/sipcast/recording"
	"github.com/sipcast/sipcast/rtmp/flv"
)

// Clip is a decoded test clip.
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

// Dir returns the repository's testdata directory.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata")
}

// AV720p is the 4-second 1280x720 H.264 + AAC clip.
func AV720p() (*Clip, error) { return Load(filepath.Join(Dir(), "av720p.flv")) }

// AudioOnly is the 4-second AAC clip.
func AudioOnly() (*Clip, error) { return Load(filepath.Join(Dir(), "audio.flv")) }

// Load reads an FLV file with H.264 and/or AAC.
func Load(path string) (*Clip, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
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
					return nil, fmt.Errorf("%s: no SPS/PPS", path)
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

// WriteRecording writes the AV720p clip at path as the recorder writes a call: a
// fragmented MP4 of H.264 + AAC, 4 s long (the uploader's "test recording").
func WriteRecording(path string) error {
	c, err := AV720p()
	if err != nil {
		return err
	}
	r, err := recording.Create(recording.Config{Path: path, NoSync: true,
		Video: &recording.VideoConfig{SPS: c.SPS, PPS: c.PPS},
		Audio: &recording.AudioConfig{AudioSpecificConfig: c.AudioConfig}})
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
