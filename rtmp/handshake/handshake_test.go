package handshake

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClientServer(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	errc := make(chan error, 1)
	go func() { errc <- Server(b, 7) }()
	require.NoError(t, Client(a, 1))
	require.NoError(t, <-errc)
}

type scripted struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (s *scripted) Read(p []byte) (int, error)  { return s.in.Read(p) }
func (s *scripted) Write(p []byte) (int, error) { return s.out.Write(p) }

func TestClientEchoesS1(t *testing.T) {
	s1 := bytes.Repeat([]byte{0xab}, Size)
	in := append([]byte{Version}, s1...)
	in = append(in, make([]byte, Size)...)
	rw := &scripted{in: bytes.NewReader(in)}
	require.NoError(t, Client(rw, 0))
	out := rw.out.Bytes()
	require.Len(t, out, 1+2*Size)
	require.Equal(t, byte(Version), out[0])
	require.Equal(t, []byte{0, 0, 0, 0}, out[5:9], "simple handshake: zero version bytes")
	require.Equal(t, s1, out[1+Size:], "C2 must echo S1")
}

func TestErrors(t *testing.T) {
	rw := &scripted{in: bytes.NewReader([]byte{6})}
	require.ErrorIs(t, Client(rw, 0), ErrVersion)
	rw = &scripted{in: bytes.NewReader([]byte{3, 1, 2})}
	require.ErrorIs(t, Client(rw, 0), io.ErrUnexpectedEOF)
	rw = &scripted{in: bytes.NewReader(nil)}
	require.ErrorIs(t, Server(rw, 0), io.EOF)
	rw = &scripted{in: bytes.NewReader([]byte{0x47})} // "GET" from a browser
	require.ErrorIs(t, Server(rw, 0), ErrVersion)
}
