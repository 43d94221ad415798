package sip

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUnfold(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"A: b\r\n c\r\nD: e\r\n\r\nbody\r\n folded", "A: b c\r\nD: e\r\n\r\nbody\r\n folded"},
		{"TO :\r\n sip:x@y ;\r\n\t tag = 1\r\n\r\n", "TO : sip:x@y ; tag = 1\r\n\r\n"},
		{"plain: header\r\n\r\n", "plain: header\r\n\r\n"},
		{"no end\r\n  x", "no end x"},
		{"", ""},
	} {
		b := []byte(tc.in)
		require.Equal(t, tc.want, string(b[:unfold(b)]), "%q", tc.in)
	}
	b := []byte("A: b\r\n c\r\n\r\n")
	require.Zero(t, testing.AllocsPerRun(100, func() { unfold(b) }))
}

func FuzzUnfold(f *testing.F) {
	f.Add([]byte("A: b\r\n c\r\n\r\nbody"))
	f.Add([]byte("\r\n \r\n\t\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n := unfold(b)
		if n < 0 || n > len(b) {
			t.Fatalf("length %d of %d", n, len(b))
		}
	})
}
