package h264

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrConfigTruncated is returned when an AVCDecoderConfigurationRecord ends early.
var ErrConfigTruncated = errors.New("h264: AVCDecoderConfigurationRecord truncated")

// AVCConfig is the AVCDecoderConfigurationRecord of ISO/IEC 14496-15 §5.3.3.1, as carried
// in the FLV AVC sequence header and the MP4 avcC box. Only 4-byte NAL unit lengths are
// produced; any length size is parsed.
type AVCConfig struct {
	ProfileIdc           uint8
	ProfileCompatibility uint8
	LevelIdc             uint8
	// LengthSize is the size of NAL unit length prefixes (1, 2 or 4). Marshal writes 4.
	LengthSize int
	SPS        [][]byte
	PPS        [][]byte
}

// NewAVCConfig builds a configuration record from one SPS and one PPS.
func NewAVCConfig(sps, pps []byte) (AVCConfig, error) {
	if TypeOf(sps) != NALUTypeSPS || len(sps) < 4 {
		return AVCConfig{}, fmt.Errorf("%w: %d bytes", ErrNotSPS, len(sps))
	}
	if TypeOf(pps) != NALUTypePPS {
		return AVCConfig{}, errors.New("h264: not a PPS NAL unit")
	}
	return AVCConfig{
		ProfileIdc: sps[1], ProfileCompatibility: sps[2], LevelIdc: sps[3],
		LengthSize: 4, SPS: [][]byte{sps}, PPS: [][]byte{pps},
	}, nil
}

// MarshalSize returns the encoded size.
func (c AVCConfig) MarshalSize() int {
	n := 7
	for _, s := range c.SPS {
		n += 2 + len(s)
	}
	for _, p := range c.PPS {
		n += 2 + len(p)
	}
	return n
}

// Marshal appends the record to dst.
func (c AVCConfig) Marshal(dst []byte) ([]byte, error) {
	if len(c.SPS) > 31 || len(c.PPS) > 255 {
		return dst, errors.New("h264: too many parameter sets for an AVCDecoderConfigurationRecord")
	}
	dst = append(dst, 1, c.ProfileIdc, c.ProfileCompatibility, c.LevelIdc, 0xfc|3, 0xe0|byte(len(c.SPS)))
	for _, s := range c.SPS {
		if len(s) > 0xffff {
			return dst, errors.New("h264: SPS longer than 65535 bytes")
		}
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
		dst = append(dst, s...)
	}
	dst = append(dst, byte(len(c.PPS)))
	for _, p := range c.PPS {
		if len(p) > 0xffff {
			return dst, errors.New("h264: PPS longer than 65535 bytes")
		}
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(p)))
		dst = append(dst, p...)
	}
	return dst, nil
}

// Unmarshal parses a record. The parameter sets alias b.
func (c *AVCConfig) Unmarshal(b []byte) error {
	if len(b) < 7 {
		return fmt.Errorf("%w: %d bytes", ErrConfigTruncated, len(b))
	}
	if b[0] != 1 {
		return fmt.Errorf("h264: AVCDecoderConfigurationRecord version %d, want 1", b[0])
	}
	c.ProfileIdc, c.ProfileCompatibility, c.LevelIdc = b[1], b[2], b[3]
	c.LengthSize = int(b[4]&3) + 1
	if c.LengthSize == 3 {
		return errors.New("h264: NAL unit length size 3 is not allowed")
	}
	n := int(b[5] & 0x1f)
	b = b[6:]
	var err error
	if c.SPS, b, err = readParamSets(b, n); err != nil {
		return err
	}
	if len(b) < 1 {
		return fmt.Errorf("%w: no PPS count", ErrConfigTruncated)
	}
	n = int(b[0])
	c.PPS, _, err = readParamSets(b[1:], n)
	return err
}

func readParamSets(b []byte, n int) ([][]byte, []byte, error) {
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		if len(b) < 2 {
			return nil, nil, fmt.Errorf("%w: parameter set %d has no length", ErrConfigTruncated, i)
		}
		l := int(binary.BigEndian.Uint16(b))
		if l > len(b)-2 {
			return nil, nil, fmt.Errorf("%w: parameter set %d of %d bytes, %d left", ErrConfigTruncated, i, l, len(b)-2)
		}
		out = append(out, b[2:2+l])
		b = b[2+l:]
	}
	return out, b, nil
}
