// Package handshake implements the RTMP handshake (Adobe RTMP specification §5.2): the
// client sends C0 and C1, the server answers S0, S1 and S2, the client finishes with C2.
//
// This is the "simple" handshake, with zero version bytes in C1/S1, which every server
// and client in use accepts: nginx-rtmp, ffmpeg (which skips digest validation when the
// peer's version bytes are zero), Wowza and the CMS streamer. The package is pure: it works
// on an io.ReadWriter and leaves deadlines and cancellation to the caller.
package handshake

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
)

// Size is the length of C1, C2, S1 and S2.
const Size = 1536

// Version is the RTMP version byte sent in C0/S0.
const Version = 3

// ErrVersion is returned when the peer announces an RTMP version other than 3.
var ErrVersion = errors.New("handshake: unsupported RTMP version")

func fillRandom(b []byte, r *rand.ChaCha8) {
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
}

func newRand() *rand.ChaCha8 {
	var seed [32]byte
	for i := 0; i < 32; i += 8 {
		binary.LittleEndian.PutUint64(seed[i:], rand.Uint64())
	}
	return rand.NewChaCha8(seed)
}

// Client performs the client side of the handshake on rw. epoch is written as C1's time.
func Client(rw io.ReadWriter, epoch uint32) error {
	buf := make([]byte, 1+Size+1+2*Size)
	c := buf[:1+Size]
	c[0] = Version
	binary.BigEndian.PutUint32(c[1:], epoch)
	fillRandom(c[9:], newRand())
	if _, err := rw.Write(c); err != nil {
		return fmt.Errorf("handshake: sending C0+C1: %w", err)
	}
	s := buf[1+Size:]
	if _, err := io.ReadFull(rw, s[:1]); err != nil {
		return fmt.Errorf("handshake: reading S0: %w", err)
	}
	if s[0] != Version {
		return fmt.Errorf("%w: server answered version %d", ErrVersion, s[0])
	}
	if _, err := io.ReadFull(rw, s[1:]); err != nil {
		return fmt.Errorf("handshake: reading S1+S2: %w", err)
	}
	// C2 echoes S1.
	s1 := s[1 : 1+Size]
	if _, err := rw.Write(s1); err != nil {
		return fmt.Errorf("handshake: sending C2: %w", err)
	}
	return nil
}

// Server performs the server side of the handshake on rw. epoch is written as S1's time.
func Server(rw io.ReadWriter, epoch uint32) error {
	buf := make([]byte, 1+Size+1+2*Size)
	c := buf[:1+Size]
	if _, err := io.ReadFull(rw, c[:1]); err != nil {
		return fmt.Errorf("handshake: reading C0: %w", err)
	}
	if c[0] != Version {
		return fmt.Errorf("%w: client sent version %d", ErrVersion, c[0])
	}
	if _, err := io.ReadFull(rw, c[1:]); err != nil {
		return fmt.Errorf("handshake: reading C1: %w", err)
	}
	s := buf[1+Size:]
	s[0] = Version
	s1 := s[1 : 1+Size]
	binary.BigEndian.PutUint32(s1, epoch)
	binary.BigEndian.PutUint32(s1[4:], 0)
	fillRandom(s1[8:], newRand())
	// S2 echoes C1, with the time we read it at.
	s2 := s[1+Size:]
	copy(s2, c[1:])
	binary.BigEndian.PutUint32(s2[4:], epoch)
	if _, err := rw.Write(s); err != nil {
		return fmt.Errorf("handshake: sending S0+S1+S2: %w", err)
	}
	if _, err := io.ReadFull(rw, c[1:]); err != nil {
		return fmt.Errorf("handshake: reading C2: %w", err)
	}
	return nil
}
