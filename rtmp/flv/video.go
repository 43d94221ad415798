package flv

import (
	"errors"
	"fmt"
)

// Video frame types (E.4.3.1).
const (
	FrameKey            = 1
	FrameInter          = 2
	FrameDisposable     = 3 // H.263 only in the legacy header; used for non-reference frames
	FrameGeneratedKey   = 4
	FrameVideoInfoOrCmd = 5
)

// Legacy video codec ids (E.4.3.1).
const (
	VideoCodecH263 = 2
	VideoCodecAVC  = 7
)

// FourCC values of Enhanced RTMP.
var (
	FourCCAVC  = [4]byte{'a', 'v', 'c', '1'}
	FourCCHEVC = [4]byte{'h', 'v', 'c', '1'}
	FourCCAV1  = [4]byte{'a', 'v', '0', '1'}
	FourCCVP9  = [4]byte{'v', 'p', '0', '9'}
	FourCCOpus = [4]byte{'O', 'p', 'u', 's'}
)

// Packet types, shared by the legacy AVCPacketType (0, 1, 2) and the Enhanced RTMP
// PacketType.
const (
	PacketSequenceStart = 0
	PacketCodedFrames   = 1
	PacketSequenceEnd   = 2
	// PacketCodedFramesX is Enhanced RTMP's coded frames without a composition time;
	// Unmarshal reports it as PacketCodedFrames with CompositionTime 0.
	PacketCodedFramesX = 3
	PacketMetadata     = 4
)

// Errors returned by the Unmarshal methods.
var (
	ErrTruncated   = errors.New("flv: tag body truncated")
	ErrUnsupported = errors.New("flv: unsupported tag")
)

// VideoTag is the body of an FLV video tag / RTMP video message.
type VideoTag struct {
	// FrameType is FrameKey, FrameInter, FrameDisposable...
	FrameType uint8
	// Enhanced selects the Enhanced RTMP header with FourCC; otherwise CodecID is used.
	Enhanced bool
	// CodecID is the legacy codec id (VideoCodecAVC) when Enhanced is false.
	CodecID uint8
	// FourCC names the codec when Enhanced is true.
	FourCC [4]byte
	// PacketType is PacketSequenceStart, PacketCodedFrames or PacketSequenceEnd
	// (AVC and Enhanced), or PacketMetadata (Enhanced).
	PacketType uint8
	// CompositionTime is PTS - DTS in milliseconds (AVC, HEVC).
	CompositionTime int32
	// Data is the configuration record (sequence start) or the NAL units / OBUs.
	Data []byte
}

func hasCompositionTime(t *VideoTag) bool {
	if !t.Enhanced {
		return t.CodecID == VideoCodecAVC
	}
	return (t.FourCC == FourCCAVC || t.FourCC == FourCCHEVC) && t.PacketType == PacketCodedFrames
}

// MaxVideoHeaderSize is the largest header MarshalHeader writes.
const MaxVideoHeaderSize = 8

// MarshalHeader writes the header (everything before Data) into b and returns it.
func (t *VideoTag) MarshalHeader(b *[MaxVideoHeaderSize]byte) []byte {
	if !t.Enhanced {
		b[0] = t.FrameType<<4 | t.CodecID&0x0f
		if t.CodecID != VideoCodecAVC || t.FrameType == FrameVideoInfoOrCmd {
			return b[:1] // command frames carry no AVC packet header
		}
		b[1] = t.PacketType
		putSI24(b[2:], t.CompositionTime)
		return b[:5]
	}
	pt := t.PacketType
	if pt == PacketCodedFrames && !hasCompositionTime(t) {
		pt = PacketCodedFramesX
	}
	b[0] = 0x80 | (t.FrameType&7)<<4 | pt&0x0f
	copy(b[1:5], t.FourCC[:])
	if pt == PacketCodedFrames {
		putSI24(b[5:], t.CompositionTime)
		return b[:8]
	}
	return b[:5]
}

// Marshal appends the whole body to dst.
func (t *VideoTag) Marshal(dst []byte) []byte {
	var h [MaxVideoHeaderSize]byte
	return append(append(dst, t.MarshalHeader(&h)...), t.Data...)
}

// Unmarshal parses a body; Data aliases b.
func (t *VideoTag) Unmarshal(b []byte) error {
	*t = VideoTag{}
	if len(b) < 1 {
		return fmt.Errorf("%w: empty video tag", ErrTruncated)
	}
	if b[0]&0x80 != 0 {
		t.Enhanced = true
		t.FrameType = b[0] >> 4 & 7
		t.PacketType = b[0] & 0x0f
		if len(b) < 5 {
			return fmt.Errorf("%w: enhanced video header of %d bytes", ErrTruncated, len(b))
		}
		copy(t.FourCC[:], b[1:5])
		b = b[5:]
		switch t.PacketType {
		case PacketCodedFrames:
			if hasCompositionTime(t) {
				if len(b) < 3 {
					return fmt.Errorf("%w: no composition time", ErrTruncated)
				}
				t.CompositionTime = si24(b)
				b = b[3:]
			}
		case PacketCodedFramesX:
			t.PacketType = PacketCodedFrames
		case PacketSequenceStart, PacketSequenceEnd, PacketMetadata:
		default:
			return fmt.Errorf("%w: enhanced video packet type %d", ErrUnsupported, t.PacketType)
		}
		t.Data = b
		return nil
	}
	t.FrameType = b[0] >> 4
	t.CodecID = b[0] & 0x0f
	b = b[1:]
	if t.CodecID == VideoCodecAVC && t.FrameType != FrameVideoInfoOrCmd {
		if len(b) < 4 {
			return fmt.Errorf("%w: AVC header of %d bytes", ErrTruncated, len(b)+1)
		}
		t.PacketType = b[0]
		if t.PacketType > PacketSequenceEnd {
			return fmt.Errorf("%w: AVC packet type %d", ErrUnsupported, t.PacketType)
		}
		t.CompositionTime = si24(b[1:])
		b = b[4:]
	}
	t.Data = b
	return nil
}

func putSI24(b []byte, v int32) {
	u := uint32(v) & 0xffffff
	b[0], b[1], b[2] = byte(u>>16), byte(u>>8), byte(u)
}

func si24(b []byte) int32 {
	v := int32(b[0])<<16 | int32(b[1])<<8 | int32(b[2])
	if v&0x800000 != 0 {
		v -= 1 << 24
	}
	return v
}
