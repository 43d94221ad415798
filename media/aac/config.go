package aac

import (
	"errors"
	"fmt"
)

// Audio object types used by sipcast (ISO/IEC 14496-3 Table 1.1).
const (
	ObjectTypeAACLC = 2
	ObjectTypeSBR   = 5
	ObjectTypePS    = 29
)

var sampleRates = [...]int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

// ErrConfigTruncated is returned when an AudioSpecificConfig ends early.
var ErrConfigTruncated = errors.New("aac: AudioSpecificConfig truncated")

// Config is the part of an AudioSpecificConfig that describes the stream.
type Config struct {
	ObjectType int
	SampleRate int
	Channels   int
}

// ParseConfig parses the leading fields of an AudioSpecificConfig (any trailing
// extension bits are ignored), such as the 2 to 5 bytes RTP `config=` parameters carry.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	r := bits{b: b}
	ot, err := r.read(5)
	if err != nil {
		return c, err
	}
	if ot == 31 {
		ext, err := r.read(6)
		if err != nil {
			return c, err
		}
		ot = 32 + ext
	}
	c.ObjectType = int(ot)
	idx, err := r.read(4)
	if err != nil {
		return c, err
	}
	if idx == 15 {
		f, err := r.read(24)
		if err != nil {
			return c, err
		}
		c.SampleRate = int(f)
	} else if int(idx) < len(sampleRates) {
		c.SampleRate = sampleRates[idx]
	} else {
		return c, fmt.Errorf("aac: reserved sampling frequency index %d", idx)
	}
	ch, err := r.read(4)
	if err != nil {
		return c, err
	}
	c.Channels = int(ch)
	if c.Channels == 7 {
		c.Channels = 8
	}
	return c, nil
}

// Marshal encodes a two-byte (or, for unusual rates, five-byte) AudioSpecificConfig
// with GASpecificConfig flags all zero.
func (c Config) Marshal() ([]byte, error) {
	if c.ObjectType <= 0 || c.ObjectType >= 31 {
		return nil, fmt.Errorf("aac: object type %d not supported by Marshal", c.ObjectType)
	}
	if c.Channels < 0 || c.Channels > 6 {
		return nil, fmt.Errorf("aac: %d channels not supported by Marshal", c.Channels)
	}
	idx := -1
	for i, r := range sampleRates {
		if r == c.SampleRate {
			idx = i
		}
	}
	if idx < 0 {
		if c.SampleRate <= 0 || c.SampleRate >= 1<<24 {
			return nil, fmt.Errorf("aac: sample rate %d out of range", c.SampleRate)
		}
		v := uint64(c.ObjectType)<<35 | 15<<31 | uint64(c.SampleRate)<<7 | uint64(c.Channels)<<3
		return []byte{byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}, nil
	}
	v := uint16(c.ObjectType)<<11 | uint16(idx)<<7 | uint16(c.Channels)<<3
	return []byte{byte(v >> 8), byte(v)}, nil
}

type bits struct {
	b   []byte
	pos int
}

func (r *bits) read(n int) (uint32, error) {
	var v uint32
	for i := 0; i < n; i++ {
		if r.pos >= len(r.b)*8 {
			return 0, fmt.Errorf("%w: %d bytes", ErrConfigTruncated, len(r.b))
		}
		v = v<<1 | uint32(r.b[r.pos/8]>>(7-uint(r.pos%8)))&1
		r.pos++
	}
	return v, nil
}
