package media

import "bytes"

// FrameWriter takes frames, one at a time, on its producer's goroutine. The frame and
// its Data are valid only during the call (producers reuse their buffers): a writer that
// keeps one copies it. Writers compose by decoration (a writer that wraps another), in
// the manner of pion/interceptor and livekit's media-sdk.
type FrameWriter interface {
	// WriteFrame takes f. An error means the writer cannot go on; its producer stops
	// writing to it.
	WriteFrame(f *Frame) error
}

// FrameWriterFunc adapts a function to FrameWriter.
type FrameWriterFunc func(f *Frame) error

// WriteFrame calls fn(f).
func (fn FrameWriterFunc) WriteFrame(f *Frame) error { return fn(f) }

// NoOpFrameWriter takes every frame and does nothing; embed it to write only some.
type NoOpFrameWriter struct{}

// WriteFrame does nothing.
func (NoOpFrameWriter) WriteFrame(*Frame) error { return nil }

// Track describes one received track, as negotiated and as learned from the stream:
// what a writer needs to set up its container or muxer.
type Track struct {
	Codec     Codec
	ClockRate int
	// Channels is the audio channel count (0 for video).
	Channels int
	// SPS and PPS are the H.264 parameter sets; Width and Height come from the SPS.
	SPS, PPS      []byte
	Width, Height int
	// Config is the AAC AudioSpecificConfig.
	Config []byte
}

// Clone returns a copy of t that shares no memory with it (a Frame's Track is valid only
// during the call that carries it).
func (t *Track) Clone() *Track {
	c := *t
	c.SPS, c.PPS, c.Config = bytes.Clone(t.SPS), bytes.Clone(t.PPS), bytes.Clone(t.Config)
	return &c
}

var (
	_ FrameWriter = FrameWriterFunc(nil)
	_ FrameWriter = NoOpFrameWriter{}
)
