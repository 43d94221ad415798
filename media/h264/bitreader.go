package h264

import "errors"

// errBitsExhausted is returned when a bitstream field runs past the end of its data.
var errBitsExhausted = errors.New("h264: bitstream ends inside a field")

// bitReader reads RBSP bits MSB first; emulation prevention bytes must be removed already.
type bitReader struct {
	b   []byte
	pos int // in bits
}

func (r *bitReader) bit() (uint32, error) {
	if r.pos >= len(r.b)*8 {
		return 0, errBitsExhausted
	}
	v := uint32(r.b[r.pos/8]>>(7-uint(r.pos%8))) & 1
	r.pos++
	return v, nil
}

func (r *bitReader) bits(n int) (uint32, error) {
	var v uint32
	for i := 0; i < n; i++ {
		b, err := r.bit()
		if err != nil {
			return 0, err
		}
		v = v<<1 | b
	}
	return v, nil
}

// ue reads an unsigned Exp-Golomb code (H.264 §9.1), refusing codes longer than 32 bits.
func (r *bitReader) ue() (uint32, error) {
	zeros := 0
	for {
		b, err := r.bit()
		if err != nil {
			return 0, err
		}
		if b == 1 {
			break
		}
		zeros++
		if zeros > 31 {
			return 0, errors.New("h264: Exp-Golomb code longer than 32 bits")
		}
	}
	v, err := r.bits(zeros)
	if err != nil {
		return 0, err
	}
	return (1<<uint(zeros) - 1) + v, nil
}

func (r *bitReader) se() (int32, error) {
	v, err := r.ue()
	if err != nil {
		return 0, err
	}
	if v&1 == 1 {
		return int32((v + 1) / 2), nil
	}
	return -int32(v / 2), nil
}

// unescapeRBSP removes emulation prevention bytes (00 00 03 → 00 00).
func unescapeRBSP(dst, b []byte) []byte {
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		dst = append(dst, c)
	}
	return dst
}
