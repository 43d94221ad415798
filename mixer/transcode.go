package mixer

import (
	"fmt"
	"time"

	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/mixer/aacenc"
	"github.com/sipcast/sipcast/mixer/g711"
	"github.com/sipcast/sipcast/mixer/g722"
	"github.com/sipcast/sipcast/mixer/opusdec"
)

// OutputRate is the sample rate of the AAC a Transcoder makes: what RTMP platforms take.
const OutputRate = 48000

// DefaultBitrate is the AAC bitrate of a transcoded (mono) call whose codec is full
// band (Opus). A band-limited codec gets less, what its band needs: G.711 (to 4 kHz)
// 32 kb/s, G.722 (to 7 kHz) 48 kb/s.
const DefaultBitrate = 64000

// bitrates and bandwidths by the input's sample rate: what the AAC spends and codes.
var bitrates = map[int][2]int{8000: {32000, 4000}, 16000: {48000, 7000}, 48000: {DefaultBitrate, 0}}

// g722Delay is G.722's delay through an encoder and a decoder: 22 samples at 16 kHz
// (measured against ffmpeg's g722 and ours: TestInteropTranscodeDecodedByFFmpeg).
const g722Delay = 22 * time.Second / 16000

// opusDelay is the look-ahead of libopus's encoder (6.5 ms: 312 samples at 48 kHz), the
// delay an Opus stream's decoded audio has against its timestamps.
const opusDelay = 312 * time.Second / 48000

// maxGap bounds the silence a Transcoder makes for a gap in its input (lost packets):
// a longer gap (a pause, silence suppression, a new timeline) moves the timeline on
// without making any, and the outputs' Align stage fills it with silent AAC frames,
// which cost nothing to make. The bound also caps the work a caller's timestamps can
// ask for: at most 200 ms of audio made per packet received.
const maxGap = 200 * time.Millisecond

// CanTranscode says whether a Transcoder takes the codec.
func CanTranscode(c media.Codec) bool {
	return c == media.CodecPCMU || c == media.CodecPCMA || c == media.CodecG722 || c == media.CodecOpus && opusdec.Available
}

// Transcoder is a media.FrameWriter stage that turns a call's G.711, G.722 or (in the
// build tagged opus) Opus audio into AAC-LC (48 kHz mono) for the outputs: decode, resample, encode. Frames of other
// codecs (the video) pass through. The AAC keeps the input's timeline: a gap in the
// input (lost packets) becomes silence of its length, and the encoder's priming frame
// is left out, so the audio plays where it was sent (its first 21 ms fade in). Not
// safe for concurrent use (a pipeline stage: its owner's goroutine).
type Transcoder struct {
	w     media.FrameWriter
	in    media.Codec
	rate  int
	law   g711.Codec
	g722  *g722.Decoder
	opus  *opusdec.Decoder
	enc   *aacenc.Encoder
	track media.Track

	pcm     []int16
	pending []float32 // samples (at the input's rate) not yet encoded
	started bool
	anchor  time.Duration // the input time of the stream's first sample
	expect  time.Duration // the input time the next frame should start at
	encoded int64         // AAC frames made
	sent    bool          // the track was announced
	out     media.Frame
}

// NewTranscoder returns a Transcoder of codec in (PCMU, PCMA or G722) in front of w.
func NewTranscoder(w media.FrameWriter, in media.Codec) (*Transcoder, error) {
	t := &Transcoder{w: w, in: in}
	switch in {
	case media.CodecPCMU:
		t.rate, t.law = 8000, g711.ULaw
	case media.CodecPCMA:
		t.rate, t.law = 8000, g711.ALaw
	case media.CodecG722:
		t.rate, t.g722 = 16000, g722.NewDecoder()
	case media.CodecOpus:
		d, err := opusdec.New(1)
		if err != nil {
			return nil, err
		}
		t.rate, t.opus = 48000, d
	default:
		return nil, fmt.Errorf("mixer: no transcoding from %v", in)
	}
	// The encoder takes the input at its own rate and brings it to 48 kHz with no
	// filter: each sample followed by zeros. It codes nothing above the input's Nyquist
	// frequency, and every image the zeros make lies above it: within the coded band the
	// result is the ideal interpolation's (see TestInteropTranscodeAsSharpResampling),
	// and it costs nothing.
	br := bitrates[t.rate]
	var err error
	if t.enc, err = aacenc.New(aacenc.Config{SampleRate: OutputRate, Channels: 1, Bitrate: br[0], Bandwidth: br[1], InputRate: t.rate}); err != nil {
		return nil, err
	}
	t.track = media.Track{Codec: media.CodecAAC, ClockRate: OutputRate, Channels: 1, Config: t.enc.AudioSpecificConfig()}
	t.pcm = make([]int16, 0, opusdec.MaxFrameSamples)
	t.pending = make([]float32, 0, aacenc.FrameSamples+1)
	return t, nil
}

// EncoderStats is what the AAC encoder has made so far.
func (t *Transcoder) EncoderStats() aacenc.Stats { return t.enc.Stats() }

// Track is the AAC track the Transcoder makes.
func (t *Transcoder) Track() media.Track { return t.track }

// WriteFrame transcodes a frame of the input codec and writes the AAC frames it
// completes; other frames pass through.
func (t *Transcoder) WriteFrame(f *media.Frame) error {
	if f.Codec != t.in {
		return t.w.WriteFrame(f)
	}
	t.pcm = t.pcm[:0]
	switch {
	case t.g722 != nil:
		t.pcm = t.g722.Decode(t.pcm, f.Data)
	case t.opus != nil:
		var err error
		if t.pcm, err = t.opus.Decode(t.pcm, f.Data); err != nil {
			return nil // a packet libopus refuses: the gap becomes silence at the next one
		}
	default:
		t.pcm = t.law.Decode(t.pcm, f.Data)
	}
	dur := time.Duration(len(t.pcm)) * time.Second / time.Duration(t.rate)
	switch gap := f.PTS - t.expect; {
	case !t.started:
		t.started, t.anchor, t.expect = true, f.PTS, f.PTS
		switch {
		case t.g722 != nil:
			// G.722's QMF delays the audio by 22 samples, the sender's half and ours.
			t.anchor = max(0, t.anchor-g722Delay)
		case t.opus != nil:
			t.anchor = max(0, t.anchor-opusDelay) // libopus's encoder look-ahead
		}
	case gap > maxGap || gap < -maxGap:
		t.anchor += gap // a new timeline: the samples go on, their times move with it
	case gap > dur/4:
		// Lost frames: silence of their length, so the audio keeps its timeline.
		silent := int(gap * time.Duration(t.rate) / time.Second)
		if err := t.feed(nil, silent); err != nil {
			return err
		}
	}
	t.expect = f.PTS + dur
	return t.feed(t.pcm, 0)
}

// feed takes pcm (or silent samples of silence) and encodes what completes frames.
func (t *Transcoder) feed(pcm []int16, silence int) error {
	next := t.enc.NextFrameSamples()
	for _, s := range pcm {
		if t.pending = append(t.pending, float32(s)/32768); len(t.pending) == next {
			if err := t.encode(); err != nil {
				return err
			}
			next = t.enc.NextFrameSamples()
		}
	}
	for range silence {
		if t.pending = append(t.pending, 0); len(t.pending) == next {
			if err := t.encode(); err != nil {
				return err
			}
			next = t.enc.NextFrameSamples()
		}
	}
	return nil
}

// encode encodes pending, a frame's samples, and writes the AAC frame.
func (t *Transcoder) encode() error {
	data, err := t.enc.Encode(t.pending)
	t.pending = t.pending[:0]
	if err != nil {
		return err
	}
	t.encoded++
	priming := int64(t.enc.Delay() / aacenc.FrameSamples)
	if t.encoded <= priming {
		return nil // the priming frames: their decoded samples precede the input
	}
	// Frame k (from 0) decodes to the input's frame k-priming.
	pts := t.anchor + time.Duration(t.encoded-1-priming)*aacenc.FrameSamples*time.Second/OutputRate
	t.out = media.Frame{Codec: media.CodecAAC, PTS: pts, DTS: pts, Keyframe: true, Data: data}
	if !t.sent {
		t.sent = true
		t.out.Track = &t.track
	}
	return t.w.WriteFrame(&t.out)
}
