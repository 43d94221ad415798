package rtplatm

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrUnsupported is returned for LATM features sipcast does not handle: several programs
// or layers, variable frame lengths, audioMuxVersionA, or a program_config_element.
var ErrUnsupported = errors.New("rtplatm: unsupported LATM configuration")

// StreamMuxConfig is the part of the LATM StreamMuxConfig the decoder needs.
type StreamMuxConfig struct {
	AudioMuxVersion int
	// NumSubFrames is the number of access units per AudioMuxElement.
	NumSubFrames int
	// AudioSpecificConfig is the AAC configuration, byte-aligned, as FLV and MP4 carry it.
	AudioSpecificConfig []byte
	// OtherDataBits is the length of other data after the payload (0 when absent).
	OtherDataBits int
	CRCPresent    bool
}

// ParseStreamMuxConfig parses a StreamMuxConfig, such as the SDP config parameter.
func ParseStreamMuxConfig(b []byte) (StreamMuxConfig, error) {
	r := bitReader{b: b}
	return parseStreamMuxConfig(&r)
}

func parseStreamMuxConfig(r *bitReader) (StreamMuxConfig, error) {
	var c StreamMuxConfig
	v, err := r.read(1)
	if err != nil {
		return c, err
	}
	c.AudioMuxVersion = int(v)
	if c.AudioMuxVersion == 1 {
		a, err := r.read(1)
		if err != nil {
			return c, err
		}
		if a != 0 {
			return c, fmt.Errorf("%w: audioMuxVersionA 1", ErrUnsupported)
		}
		if _, err := r.latmGetValue(); err != nil { // taraBufferFullness
			return c, err
		}
	}
	if _, err := r.read(1); err != nil { // allStreamsSameTimeFraming
		return c, err
	}
	sub, err := r.read(6)
	if err != nil {
		return c, err
	}
	c.NumSubFrames = int(sub) + 1
	prog, err := r.read(4)
	if err != nil {
		return c, err
	}
	layer, err := r.read(3)
	if err != nil {
		return c, err
	}
	if prog != 0 || layer != 0 {
		return c, fmt.Errorf("%w: %d programs, %d layers", ErrUnsupported, prog+1, layer+1)
	}
	if c.AudioMuxVersion == 1 {
		ascLen, err := r.latmGetValue()
		if err != nil {
			return c, err
		}
		if int(ascLen) > r.left() {
			return c, errBits
		}
		start := r.pos
		if _, err := parseASC(r); err != nil {
			return c, err
		}
		c.AudioSpecificConfig = copyBits(r.b, start, r.pos)
		r.pos = start + int(ascLen) // fill bits included
	} else {
		start := r.pos
		if _, err := parseASC(r); err != nil {
			return c, err
		}
		c.AudioSpecificConfig = copyBits(r.b, start, r.pos)
	}
	flt, err := r.read(3)
	if err != nil {
		return c, err
	}
	if flt != 0 {
		return c, fmt.Errorf("%w: frameLengthType %d", ErrUnsupported, flt)
	}
	if _, err := r.read(8); err != nil { // latmBufferFullness
		return c, err
	}
	other, err := r.read(1)
	if err != nil {
		return c, err
	}
	if other == 1 {
		if c.AudioMuxVersion == 1 {
			v, err := r.latmGetValue()
			if err != nil {
				return c, err
			}
			c.OtherDataBits = int(v)
		} else {
			for {
				esc, err := r.read(1)
				if err != nil {
					return c, err
				}
				v, err := r.read(8)
				if err != nil {
					return c, err
				}
				c.OtherDataBits = c.OtherDataBits<<8 + int(v)
				if c.OtherDataBits > 1<<20 {
					return c, fmt.Errorf("%w: other data of %d bits", ErrUnsupported, c.OtherDataBits)
				}
				if esc == 0 {
					break
				}
			}
		}
	}
	crc, err := r.read(1)
	if err != nil {
		return c, err
	}
	if crc == 1 {
		c.CRCPresent = true
		if _, err := r.read(8); err != nil {
			return c, err
		}
	}
	return c, nil
}

// parseASC reads an AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) to find its length,
// for the AAC object types RTP carries; it returns the object type.
func parseASC(r *bitReader) (int, error) {
	readObjectType := func() (int, error) {
		ot, err := r.read(5)
		if err != nil {
			return 0, err
		}
		if ot == 31 {
			ext, err := r.read(6)
			if err != nil {
				return 0, err
			}
			ot = 32 + ext
		}
		return int(ot), nil
	}
	readFreq := func() error {
		idx, err := r.read(4)
		if err != nil {
			return err
		}
		if idx == 15 {
			_, err = r.read(24)
		}
		return err
	}
	ot, err := readObjectType()
	if err != nil {
		return 0, err
	}
	if err := readFreq(); err != nil {
		return 0, err
	}
	ch, err := r.read(4)
	if err != nil {
		return 0, err
	}
	if ot == 5 || ot == 29 { // explicit SBR / PS
		if err := readFreq(); err != nil {
			return 0, err
		}
		if ot, err = readObjectType(); err != nil {
			return 0, err
		}
	}
	switch ot {
	case 1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23:
	default:
		return 0, fmt.Errorf("%w: audio object type %d", ErrUnsupported, ot)
	}
	if ch == 0 {
		return 0, fmt.Errorf("%w: program_config_element", ErrUnsupported)
	}
	if _, err := r.read(1); err != nil { // frameLengthFlag
		return 0, err
	}
	core, err := r.read(1)
	if err != nil {
		return 0, err
	}
	if core == 1 {
		if _, err := r.read(14); err != nil {
			return 0, err
		}
	}
	ext, err := r.read(1)
	if err != nil {
		return 0, err
	}
	if ot == 6 || ot == 20 {
		if _, err := r.read(3); err != nil {
			return 0, err
		}
	}
	if ext == 1 {
		if ot == 22 {
			if _, err := r.read(16); err != nil {
				return 0, err
			}
		}
		if ot == 17 || ot == 19 || ot == 20 || ot == 23 {
			if _, err := r.read(3); err != nil {
				return 0, err
			}
		}
		if _, err := r.read(1); err != nil { // extensionFlag3
			return 0, err
		}
	}
	return ot, nil
}

// Config is the MP4A-LATM fmtp of one stream.
type Config struct {
	// CPresent is the cpresent parameter: the StreamMuxConfig travels in band.
	CPresent bool
	// StreamMuxConfig is the out-of-band configuration (cpresent=0).
	StreamMuxConfig StreamMuxConfig
}

// ParseFMTP parses an a=fmtp value such as "profile-level-id=30;cpresent=0;config=400024203fc0".
// cpresent defaults to 1 (RFC 6416 §7.3).
func ParseFMTP(fmtp string) (Config, error) {
	c := Config{CPresent: true}
	var cfg []byte
	for _, kv := range strings.Split(fmtp, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			continue
		}
		switch strings.ToLower(k) {
		case "cpresent":
			c.CPresent = v != "0"
		case "config":
			b, err := hex.DecodeString(v)
			if err != nil {
				return c, fmt.Errorf("rtplatm: config %q is not hex", v)
			}
			cfg = b
		}
	}
	if !c.CPresent {
		if cfg == nil {
			return c, errors.New("rtplatm: cpresent=0 without config")
		}
		smc, err := ParseStreamMuxConfig(cfg)
		if err != nil {
			return c, fmt.Errorf("rtplatm: config: %w", err)
		}
		c.StreamMuxConfig = smc
	}
	return c, nil
}
