package rtplatm

import "errors"

var errBits = errors.New("rtplatm: bitstream ends inside a field")

type bitReader struct {
	b   []byte
	pos int // bits
}

func (r *bitReader) left() int { return len(r.b)*8 - r.pos }

func (r *bitReader) read(n int) (uint32, error) {
	if n > 32 || r.left() < n {
		return 0, errBits
	}
	var v uint32
	for i := 0; i < n; i++ {
		v = v<<1 | uint32(r.b[r.pos>>3]>>(7-uint(r.pos&7)))&1
		r.pos++
	}
	return v, nil
}

// appendBytes appends n bytes read at the current (possibly unaligned) bit position.
func (r *bitReader) appendBytes(dst []byte, n int) ([]byte, error) {
	if n < 0 || r.left() < n*8 {
		return dst, errBits
	}
	if r.pos&7 == 0 {
		start := r.pos >> 3
		r.pos += n * 8
		return append(dst, r.b[start:start+n]...), nil
	}
	for i := 0; i < n; i++ {
		v, _ := r.read(8)
		dst = append(dst, byte(v))
	}
	return dst, nil
}

// latmGetValue is LatmGetValue() of ISO/IEC 14496-3 §1.7.3.1.
func (r *bitReader) latmGetValue() (uint32, error) {
	n, err := r.read(2)
	if err != nil {
		return 0, err
	}
	return r.read(int(n+1) * 8)
}

// copyBits returns the bits [from, to) of b as bytes, left-aligned.
func copyBits(b []byte, from, to int) []byte {
	n := to - from
	out := make([]byte, (n+7)/8)
	r := bitReader{b: b, pos: from}
	for i := 0; i < n; i++ {
		v, _ := r.read(1)
		out[i/8] |= byte(v) << (7 - uint(i%8))
	}
	return out
}
