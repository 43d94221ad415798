package mixer

import (
	"fmt"

	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/mixer/g722"
)

// FramePeriod is the length of one generated packet's audio: 20 ms.
const FramePeriod = 20

// opusSilence is a 20 ms Opus packet of silence (TOC 0xf8: CELT, full band, 20 ms,
// mono, one frame; the rest codes silence), as WebRTC stacks send.
var opusSilence = []byte{0xf8, 0xff, 0xfe}

// SilenceSource makes 20 ms packets of silence in a call's codec, for the audio a
// streamer sends its callers so that NAT paths open and endpoints that drop calls
// without incoming RTP keep them (Flashphoner's generate_av_for_ua).
type SilenceSource struct {
	codec   media.Codec
	payload []byte
	enc     *g722.Encoder
	zeros   []int16
	step    uint32
}

// NewSilenceSource returns a source for codec: PCMU, PCMA, G722 or Opus.
func NewSilenceSource(codec media.Codec) (*SilenceSource, error) {
	s := &SilenceSource{codec: codec, step: 160}
	switch codec {
	case media.CodecPCMU:
		s.payload = fill(160, 0xff) // µ-law zero
	case media.CodecPCMA:
		s.payload = fill(160, 0xd5) // A-law zero
	case media.CodecG722:
		s.enc, s.zeros, s.payload = g722.NewEncoder(), make([]int16, 320), make([]byte, 0, 160)
	case media.CodecOpus:
		s.payload, s.step = opusSilence, 960
	default:
		return nil, fmt.Errorf("mixer: no generated audio in %v", codec)
	}
	return s, nil
}

func fill(n int, b byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = b
	}
	return p
}

// Next returns the next packet's payload (valid until the next call) and how far it
// moves the RTP timestamp (G.722's clock is 8 kHz in RTP, RFC 3551).
func (s *SilenceSource) Next() ([]byte, uint32) {
	if s.enc != nil {
		s.payload = s.enc.Encode(s.payload[:0], s.zeros)
	}
	return s.payload, s.step
}

// Codec is the codec the source makes.
func (s *SilenceSource) Codec() media.Codec { return s.codec }
