//go:build opus

package opusdec

import (
	"fmt"

	"gopkg.in/hraban/opus.v2"
)

// Available says whether this build decodes Opus.
const Available = true

// MaxFrameSamples bounds one packet's samples per channel (120 ms at 48 kHz).
const MaxFrameSamples = 5760

// Decoder decodes one stream.
type Decoder struct {
	d   *opus.Decoder
	buf []int16
	ch  int
}

// New returns a decoder to 48 kHz with channels (1 or 2) interleaved.
func New(channels int) (*Decoder, error) {
	d, err := opus.NewDecoder(48000, channels)
	if err != nil {
		return nil, fmt.Errorf("opusdec: %w", err)
	}
	return &Decoder{d: d, buf: make([]int16, MaxFrameSamples*channels), ch: channels}, nil
}

// Decode appends the samples of one packet to dst.
func (d *Decoder) Decode(dst []int16, packet []byte) ([]int16, error) {
	n, err := d.d.Decode(packet, d.buf)
	if err != nil {
		return dst, fmt.Errorf("opusdec: %w", err)
	}
	return append(dst, d.buf[:n*d.ch]...), nil
}

// Encoder encodes one mono stream (libopus, VoIP application): what a conference sends
// an Opus leg.
type Encoder struct {
	e   *opus.Encoder
	buf []byte
}

// NewEncoder returns an encoder of mono PCM at rate Hz (8, 12, 16, 24 or 48 kHz).
func NewEncoder(rate int) (*Encoder, error) {
	e, err := opus.NewEncoder(rate, 1, opus.AppVoIP)
	if err != nil {
		return nil, fmt.Errorf("opusdec: %w", err)
	}
	return &Encoder{e: e, buf: make([]byte, 1500)}, nil
}

// Encode encodes one frame (2.5 to 60 ms of samples); the packet is valid until the
// next call.
func (e *Encoder) Encode(pcm []int16) ([]byte, error) {
	n, err := e.e.Encode(pcm, e.buf)
	if err != nil {
		return nil, fmt.Errorf("opusdec: %w", err)
	}
	return e.buf[:n], nil
}
