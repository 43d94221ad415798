package flv

import (
	"fmt"

	"github.com/sipcast/sipcast/rtmp/amf0"
)

// Metadata is what sipcast puts in onMetaData. Zero fields are left out.
type Metadata struct {
	Width, Height   int
	FrameRate       float64
	VideoDataRate   float64 // kbit/s
	VideoCodecID    float64 // 7 for AVC, or a FourCC as a number for Enhanced RTMP
	AudioDataRate   float64 // kbit/s
	AudioSampleRate int
	AudioChannels   int
	AudioCodecID    float64 // 10 for AAC, 7/8 for G.711, or a FourCC as a number
	Encoder         string
}

// FourCCNumber returns a FourCC as the number Enhanced RTMP puts in videocodecid.
func FourCCNumber(f [4]byte) float64 {
	return float64(uint32(f[0])<<24 | uint32(f[1])<<16 | uint32(f[2])<<8 | uint32(f[3]))
}

// ECMAArray returns the metadata in the order ffmpeg writes it.
func (m Metadata) ECMAArray() amf0.ECMAArray {
	var a amf0.ECMAArray
	add := func(k string, v any) { a = append(a, amf0.Property{Key: k, Value: v}) }
	if m.Width > 0 {
		add("width", float64(m.Width))
		add("height", float64(m.Height))
	}
	if m.VideoDataRate > 0 {
		add("videodatarate", m.VideoDataRate)
	}
	if m.FrameRate > 0 {
		add("framerate", m.FrameRate)
	}
	if m.VideoCodecID != 0 {
		add("videocodecid", m.VideoCodecID)
	}
	if m.AudioDataRate > 0 {
		add("audiodatarate", m.AudioDataRate)
	}
	if m.AudioSampleRate > 0 {
		add("audiosamplerate", float64(m.AudioSampleRate))
		add("audiosamplesize", 16.0)
		add("stereo", m.AudioChannels > 1)
	}
	if m.AudioCodecID != 0 {
		add("audiocodecid", m.AudioCodecID)
	}
	if m.Encoder != "" {
		add("encoder", m.Encoder)
	}
	return a
}

// MarshalSetDataFrame appends the data message body that sets the stream's metadata:
// "@setDataFrame", "onMetaData", and the ECMA array.
func (m Metadata) MarshalSetDataFrame(dst []byte) ([]byte, error) {
	return amf0.Marshal(dst, "@setDataFrame", "onMetaData", m.ECMAArray())
}

// ParseMetadata parses a data message body that carries onMetaData, with or without the
// @setDataFrame wrapper, and returns its properties.
func ParseMetadata(b []byte) (amf0.ECMAArray, error) {
	vs, err := amf0.Unmarshal(b)
	if err != nil {
		return nil, err
	}
	if len(vs) > 0 && vs[0] == "@setDataFrame" {
		vs = vs[1:]
	}
	if len(vs) < 2 || vs[0] != "onMetaData" {
		return nil, fmt.Errorf("%w: data message is not onMetaData", ErrUnsupported)
	}
	switch v := vs[1].(type) {
	case amf0.ECMAArray:
		return v, nil
	case amf0.Object:
		return amf0.ECMAArray(v), nil
	}
	return nil, fmt.Errorf("%w: onMetaData of type %T", ErrUnsupported, vs[1])
}
