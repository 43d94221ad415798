package aac

import "fmt"

// AppendADTS appends one access unit with its ADTS header (ISO/IEC 13818-7 §6.2:
// MPEG-4, no CRC) to dst: the framing of a .aac file, which ffmpeg and players read
// without a container. c gives the object type (at most 4 in ADTS's 2 bits), the
// sample rate (one of the standard ones) and the channels (1 to 7).
func AppendADTS(dst []byte, c Config, frame []byte) ([]byte, error) {
	idx := -1
	for i, r := range sampleRates {
		if r == c.SampleRate {
			idx = i
		}
	}
	n := len(frame) + 7
	switch {
	case idx < 0:
		return dst, fmt.Errorf("aac: ADTS has no index for %d Hz", c.SampleRate)
	case c.ObjectType < 1 || c.ObjectType > 4:
		return dst, fmt.Errorf("aac: ADTS cannot carry object type %d", c.ObjectType)
	case c.Channels < 1 || c.Channels > 7:
		return dst, fmt.Errorf("aac: ADTS cannot carry %d channels", c.Channels)
	case n >= 1<<13:
		return dst, fmt.Errorf("aac: %d bytes do not fit an ADTS frame", len(frame))
	}
	dst = append(dst, 0xff, 0xf1, byte((c.ObjectType-1)<<6|idx<<2|c.Channels>>2), byte((c.Channels&3)<<6|n>>11),
		byte(n>>3), byte((n&7)<<5|0x1f), 0xfc)
	return append(dst, frame...), nil
}
