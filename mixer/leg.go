package mixer

import (
	"fmt"

	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/mixer/g711"
	"github.com/sipcast/sipcast/mixer/g722"
	"github.com/sipcast/sipcast/mixer/opusdec"
	"github.com/sipcast/sipcast/mixer/resample"
)

// CodecRate is the sample rate a telephony codec carries (0: not one the mixer takes).
func CodecRate(c media.Codec) int {
	switch c {
	case media.CodecPCMU, media.CodecPCMA:
		return 8000
	case media.CodecG722:
		return 16000
	case media.CodecOpus:
		if opusdec.Available {
			return 48000
		}
	}
	return 0
}

// LegDecoder decodes what a conference leg sends (G.711, G.722, Opus in the build
// tagged opus) into PCM at the codec's rate, for a Mixer input. Not safe for concurrent
// use.
type LegDecoder struct {
	codec media.Codec
	law   g711.Codec
	g722  *g722.Decoder
	opus  *opusdec.Decoder
	pcm   []int16
}

// NewLegDecoder returns a decoder of codec.
func NewLegDecoder(codec media.Codec) (*LegDecoder, error) {
	d := &LegDecoder{codec: codec, pcm: make([]int16, 0, opusdec.MaxFrameSamples)}
	switch codec {
	case media.CodecPCMU:
		d.law = g711.ULaw
	case media.CodecPCMA:
		d.law = g711.ALaw
	case media.CodecG722:
		d.g722 = g722.NewDecoder()
	case media.CodecOpus:
		o, err := opusdec.New(1)
		if err != nil {
			return nil, err
		}
		d.opus = o
	default:
		return nil, fmt.Errorf("mixer: no decoding of %v for a conference", codec)
	}
	return d, nil
}

// Rate is the decoded audio's sample rate.
func (d *LegDecoder) Rate() int { return CodecRate(d.codec) }

// Decode decodes one packet's payload; the PCM is valid until the next call. A
// payload the decoder refuses gives no samples.
func (d *LegDecoder) Decode(payload []byte) []int16 {
	d.pcm = d.pcm[:0]
	switch {
	case d.g722 != nil:
		d.pcm = d.g722.Decode(d.pcm, payload)
	case d.opus != nil:
		var err error
		if d.pcm, err = d.opus.Decode(d.pcm, payload); err != nil {
			d.pcm = d.pcm[:0]
		}
	default:
		d.pcm = d.law.Decode(d.pcm, payload)
	}
	return d.pcm
}

// LegEncoder encodes what a conference leg hears (its mix-minus, 20 ms at the mixing
// rate) into the leg's codec: G.711 (brought down to 8 kHz) or G.722. Not safe for
// concurrent use.
type LegEncoder struct {
	codec   media.Codec
	law     g711.Codec
	g722    *g722.Encoder
	opus    *opusdec.Encoder
	rs      *resample.Resampler // mixing rate to the codec's; nil at it
	tmp     []float32
	pcm     []int16
	payload []byte
	step    uint32
}

// NewLegEncoder returns an encoder of 20 ms frames at the mixing rate rate into codec:
// PCMU, PCMA, G722, or Opus in the build tagged opus (libopus at the mixing rate; the
// RTP clock is 48 kHz). Without it Opus legs are sent silence (SilenceSource).
func NewLegEncoder(codec media.Codec, rate int) (*LegEncoder, error) {
	e := &LegEncoder{codec: codec, step: 160}
	out := 8000
	switch codec {
	case media.CodecOpus:
		enc, err := opusdec.NewEncoder(rate)
		if err != nil {
			return nil, fmt.Errorf("mixer: no encoding of Opus for a conference: %w", err)
		}
		e.opus, e.step, out = enc, 960, rate
	case media.CodecPCMU:
		e.law = g711.ULaw
	case media.CodecPCMA:
		e.law = g711.ALaw
	case media.CodecG722:
		e.g722, out = g722.NewEncoder(), 16000
	default:
		return nil, fmt.Errorf("mixer: no encoding of %v for a conference", codec)
	}
	if rate != out {
		rs, err := resample.New(resample.Config{In: rate, Out: out, Channels: 1, Relaxed: true})
		if err != nil {
			return nil, err
		}
		e.rs = rs
		// Primed with its look-ahead of silence: every frame in makes a whole frame out.
		_ = rs.Process(nil, make([]float32, rs.Latency()))
	}
	e.tmp = make([]float32, 0, 3*out/50)
	e.pcm = make([]int16, 0, out/50)
	e.payload = make([]byte, 0, out/50)
	return e, nil
}

// Encode encodes one 20 ms frame at the mixing rate: the payload (valid until the
// next call) and how far it moves the RTP timestamp.
func (e *LegEncoder) Encode(frame []float32) ([]byte, uint32) {
	x := frame
	if e.rs != nil {
		e.tmp = e.rs.Process(e.tmp[:0], frame)
		x = e.tmp
	}
	n := int(e.step)
	switch {
	case e.g722 != nil:
		n = 320
	case e.opus != nil:
		n = len(x)
	}
	e.pcm = e.pcm[:0]
	for i := range n {
		var v float32
		if i < len(x) {
			v = x[i]
		}
		e.pcm = append(e.pcm, pcm16(v))
	}
	switch {
	case e.g722 != nil:
		e.payload = e.g722.Encode(e.payload[:0], e.pcm)
	case e.opus != nil:
		p, err := e.opus.Encode(e.pcm)
		if err != nil {
			p = nil // libopus refused the frame: an empty payload, the stream goes on
		}
		e.payload = append(e.payload[:0], p...)
	default:
		e.payload = e.law.Encode(e.payload[:0], e.pcm)
	}
	return e.payload, e.step
}

// CopyState makes e's stream where from's is (the same codec and rate): its encoder's
// and resampler's state, so that e goes on exactly as from would — a leg that leaves
// a shared encode (the full mix, for legs that contribute nothing) for its own.
func (e *LegEncoder) CopyState(from *LegEncoder) {
	if e.g722 != nil && from.g722 != nil {
		*e.g722 = *from.g722
	}
	if e.rs != nil && from.rs != nil {
		e.rs.CopyState(from.rs)
	}
}

// Shareable says whether CopyState can hand this encoder's stream over (G.711 and
// G.722; not libopus's, whose state cannot be copied).
func (e *LegEncoder) Shareable() bool { return e.opus == nil }

// Codec is the codec the encoder makes.
func (e *LegEncoder) Codec() media.Codec { return e.codec }

// pcm16 is a sample in [-1, 1] as 16-bit PCM (clipped).
func pcm16(v float32) int16 {
	switch {
	case v >= 1:
		return 32767
	case v <= -1:
		return -32768
	}
	return int16(v * 32767)
}
