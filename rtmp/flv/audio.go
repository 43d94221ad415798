package flv

import "fmt"

// Sound formats (E.4.2.1).
const (
	SoundPCMPlatform = 0
	SoundADPCM       = 1
	SoundMP3         = 2
	SoundPCMLE       = 3
	SoundG711ALaw    = 7
	SoundG711MuLaw   = 8
	// SoundExHeader marks an Enhanced RTMP v2 audio header followed by a FourCC.
	SoundExHeader = 9
	SoundAAC      = 10
	SoundSpeex    = 11
)

// AAC packet types.
const (
	AACSequenceHeader = 0
	AACRaw            = 1
)

// AudioTag is the body of an FLV audio tag / RTMP audio message.
type AudioTag struct {
	// SoundFormat is the legacy format (SoundAAC, SoundG711MuLaw...); SoundExHeader when
	// Enhanced.
	SoundFormat uint8
	// Rate (0: 5.5 kHz, 1: 11 kHz, 2: 22 kHz, 3: 44 kHz), Size (0: 8 bit, 1: 16 bit) and
	// Stereo are the legacy header flags. For AAC they are always 3, 1, 1 (decoders use the
	// AudioSpecificConfig); for G.711 at 8 kHz ffmpeg writes 0, 1, 0.
	Rate, Size uint8
	Stereo     bool
	// Enhanced selects the Enhanced RTMP v2 header with FourCC.
	Enhanced bool
	FourCC   [4]byte
	// PacketType is the AAC packet type (AACSequenceHeader, AACRaw) or the Enhanced audio
	// packet type (PacketSequenceStart, PacketCodedFrames).
	PacketType uint8
	// Data is the AudioSpecificConfig / OpusHead (sequence start) or the coded frame.
	Data []byte
}

// MaxAudioHeaderSize is the largest header MarshalHeader writes.
const MaxAudioHeaderSize = 5

// MarshalHeader writes the header (everything before Data) into b and returns it.
func (t *AudioTag) MarshalHeader(b *[MaxAudioHeaderSize]byte) []byte {
	if t.Enhanced {
		b[0] = SoundExHeader<<4 | t.PacketType&0x0f
		copy(b[1:5], t.FourCC[:])
		return b[:5]
	}
	b[0] = t.SoundFormat<<4 | (t.Rate&3)<<2 | (t.Size&1)<<1
	if t.Stereo {
		b[0] |= 1
	}
	if t.SoundFormat == SoundAAC {
		b[1] = t.PacketType
		return b[:2]
	}
	return b[:1]
}

// Marshal appends the whole body to dst.
func (t *AudioTag) Marshal(dst []byte) []byte {
	var h [MaxAudioHeaderSize]byte
	return append(append(dst, t.MarshalHeader(&h)...), t.Data...)
}

// Unmarshal parses a body; Data aliases b.
func (t *AudioTag) Unmarshal(b []byte) error {
	*t = AudioTag{}
	if len(b) < 1 {
		return fmt.Errorf("%w: empty audio tag", ErrTruncated)
	}
	t.SoundFormat = b[0] >> 4
	if t.SoundFormat == SoundExHeader {
		t.Enhanced = true
		t.PacketType = b[0] & 0x0f
		if len(b) < 5 {
			return fmt.Errorf("%w: enhanced audio header of %d bytes", ErrTruncated, len(b))
		}
		copy(t.FourCC[:], b[1:5])
		t.Data = b[5:]
		return nil
	}
	t.Rate, t.Size, t.Stereo = b[0]>>2&3, b[0]>>1&1, b[0]&1 == 1
	b = b[1:]
	if t.SoundFormat == SoundAAC {
		if len(b) < 1 {
			return fmt.Errorf("%w: no AAC packet type", ErrTruncated)
		}
		t.PacketType = b[0]
		if t.PacketType > AACRaw {
			return fmt.Errorf("%w: AAC packet type %d", ErrUnsupported, t.PacketType)
		}
		b = b[1:]
	}
	t.Data = b
	return nil
}
