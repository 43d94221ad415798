package chunk

import (
	"bytes"
	"io"
	"testing"
)

func BenchmarkWriteMessage50KB(b *testing.B) {
	w := NewWriter(io.Discard)
	_ = w.WriteSetChunkSize(4096)
	payload := make([]byte, 50000)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = w.WriteMessage(6, 9, uint32(i*40), 1, nil, payload)
	}
}

func BenchmarkReadMessage50KB(b *testing.B) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	_ = w.WriteSetChunkSize(4096)
	payload := make([]byte, 50000)
	for i := 0; i < 64; i++ {
		_ = w.WriteMessage(6, 9, uint32(i*40), 1, nil, payload)
	}
	wire := buf.Bytes()
	rd := bytes.NewReader(wire)
	r := NewReader(rd)
	var m Message
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := r.Read(&m); err != nil {
			rd.Reset(wire)
			r = NewReader(rd)
			i--
		}
	}
}
