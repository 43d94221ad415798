package media

import "time"

// Codec identifies a media codec.
type Codec uint8

// Codecs known to sipcast.
const (
	CodecUnknown Codec = iota
	CodecH264          // ITU-T H.264 / AVC
	CodecH265          // ITU-T H.265 / HEVC
	CodecAV1           // AOMedia AV1
	CodecAAC           // MPEG-4 AAC
	CodecOpus          // RFC 6716
	CodecPCMU          // G.711 µ-law
	CodecPCMA          // G.711 A-law
	CodecG722          // ITU-T G.722
)

var codecNames = [...]string{"unknown", "H264", "H265", "AV1", "AAC", "Opus", "PCMU", "PCMA", "G722"}

// String returns the codec's common name.
func (c Codec) String() string {
	if int(c) < len(codecNames) {
		return codecNames[c]
	}
	return "unknown"
}

// IsVideo reports whether c is a video codec.
func (c Codec) IsVideo() bool { return c == CodecH264 || c == CodecH265 || c == CodecAV1 }

// IsAudio reports whether c is an audio codec.
func (c Codec) IsAudio() bool { return c >= CodecAAC && c <= CodecG722 }

// Frame is one complete access unit.
//
// Data layout depends on Codec:
//   - H.264 and H.265: NAL units, each preceded by a 4-byte big-endian length (AVCC/HVCC).
//   - AV1: a temporal unit of OBUs in the low-overhead format.
//   - AAC: one raw access unit (no ADTS header).
//   - Opus: one Opus packet.
//   - G.711 and G.722: the encoded samples.
//
// Whoever receives a Frame must not retain Data after returning unless the receiving API says
// it copies: producers reuse their buffers.
type Frame struct {
	Codec Codec
	// DTS is the decode time on the session clock.
	DTS time.Duration
	// PTS is the presentation time; for audio and for video without reordering it equals DTS.
	PTS time.Duration
	// Keyframe is set on video frames that can be decoded without earlier frames (IDR).
	// Audio frames are always independently decodable and leave it unset.
	Keyframe bool
	// Concealed is set on video frames a decoder will have to conceal in part: a NAL
	// unit of the frame was lost (the frame holds only its complete ones), or a frame it
	// refers to was, since the last intact keyframe (see LossPolicy).
	Concealed bool
	// Data is the access unit; see the type documentation for its layout.
	Data []byte
	// Track is set on the frames where the track's configuration is new or changed: a
	// track's first frame (for video, its first keyframe with parameter sets), a keyframe
	// whose parameter sets differ from the last ones, audio whose AudioSpecificConfig
	// changed. It is nil on the others: configuration travels with the data, and a
	// writer that sets up a container from it (an FLV sequence header, an MP4 init
	// segment) follows it, copying what it keeps. Like Data, it is valid during the call.
	Track *Track
	// AudioLevel is the RFC 6464 level the sender gave the frame's packet (0 to 127,
	// -dBov; 127 is silence) when HasAudioLevel (TrackConfig.AudioLevelID negotiated).
	AudioLevel    uint8
	HasAudioLevel bool
}
