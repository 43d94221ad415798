package aacenc

// bitWriter appends bits, most significant first.
type bitWriter struct {
	buf  []byte
	acc  uint64
	nacc uint
	n    int // bits written
}

func (w *bitWriter) reset(buf []byte) { *w = bitWriter{buf: buf[:0]} }

func (w *bitWriter) write(v uint32, bits uint) {
	if bits == 0 {
		return
	}
	w.acc = w.acc<<bits | uint64(v)&(1<<bits-1)
	w.nacc += bits
	w.n += int(bits)
	for w.nacc >= 8 {
		w.nacc -= 8
		w.buf = append(w.buf, byte(w.acc>>w.nacc))
	}
}

// bytes pads to a byte and returns what was written.
func (w *bitWriter) bytes() []byte {
	if w.nacc > 0 {
		w.write(0, 8-w.nacc)
	}
	return w.buf
}
