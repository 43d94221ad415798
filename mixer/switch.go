package mixer

import (
	"bytes"
	"time"

	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/h264"
)

// DefaultKeyframeRequestInterval is the least time between two keyframe requests a
// VideoSwitch sends one input (a switch wanted while its sender is slow to answer).
const DefaultKeyframeRequestInterval = 500 * time.Millisecond

// VideoSwitchConfig configures a VideoSwitch.
type VideoSwitchConfig struct {
	// Next gets the selected input's frames.
	Next media.FrameWriter
	// RequestKeyframe asks input i's sender for a keyframe (PLI or FIR, or SIP INFO
	// picture_fast_update where the leg negotiated it). It is called on the goroutine
	// that called Select or WriteFrame, with no lock held; it must not block.
	RequestKeyframe func(input int)
	// RequestInterval is the least time between two requests to one input, measured on
	// the inputs' frame times (default DefaultKeyframeRequestInterval).
	RequestInterval time.Duration
	// MinInterval is the least time between two switches, on the frames' decode times
	// (0: none): a keyframe of the input asked for that comes sooner is not switched on
	// (its next one is asked for), so that the picture never changes faster than a
	// conference's speaker hold-off, whenever each input's keyframes come.
	MinInterval time.Duration
}

// VideoSwitch forwards the H.264 of one of several inputs (the conference's active
// speaker) to one output, without transcoding. Select(i) asks for input i: a keyframe
// is requested from it, and the switch happens on its next keyframe; until then the
// input shown goes on, so the picture never breaks. The keyframe switched on carries the
// new input's parameter sets (Frame.Track, its SPS, PPS and size, and in-band before
// its slices), so an FLV writer sends a new sequence header, an MP4 writer keeps them in
// its keyframes, and a parser of the stream reads the new slices with them; every later
// keyframe carries them in Frame.Track too (an output that starts mid-stream opens its
// gate on any keyframe). With MinInterval, switches are that far apart. Decode times
// stay strictly increasing across switches (a frame at or before the last one goes out
// 1 ms after it). An input that sends no video is never switched to: the picture stays
// where it is. Not safe for concurrent use: the conference's owner goroutine writes the
// inputs and selects.
type VideoSwitch struct {
	cfg    VideoSwitchConfig
	inputs []*switchInput
	active int // the input shown (-1: none yet)
	want   int // the input asked for (-1: none pending)
	out    media.Frame
	track  media.Track
	last   time.Duration
	sent   bool
	// switchedAt is the decode time of the last switch (switched: there was one).
	switchedAt time.Duration
	switched   bool
	stats      SwitchStats
	// withPS holds a keyframe switched on with its parameter sets put in front
	// (reused: allocated at the first switches only).
	withPS []byte
}

// SwitchStats count what a VideoSwitch did.
type SwitchStats struct {
	// Switches counts the switches made (each on a keyframe); Requests the keyframe
	// requests sent; Forwarded the frames sent on; Clamped the frames whose decode time
	// was moved to keep it increasing.
	Switches, Requests, Forwarded, Clamped uint64
}

type switchInput struct {
	s     *VideoSwitch
	i     int
	track media.Track // its last parameter sets (copied)
	known bool
	// asked is the frame time of the last keyframe request (asked false: none).
	askedAt time.Duration
	asked   bool
	now     time.Duration // its latest frame time
}

// NewVideoSwitch returns a switch with n inputs, showing none until one is selected and
// sends a keyframe.
func NewVideoSwitch(n int, cfg VideoSwitchConfig) *VideoSwitch {
	if cfg.RequestInterval <= 0 {
		cfg.RequestInterval = DefaultKeyframeRequestInterval
	}
	if cfg.RequestKeyframe == nil {
		cfg.RequestKeyframe = func(int) {}
	}
	s := &VideoSwitch{cfg: cfg, active: -1, want: -1}
	for i := range n {
		s.inputs = append(s.inputs, &switchInput{s: s, i: i})
	}
	return s
}

// AddInput adds an input (a participant who joined) and returns its index.
func (s *VideoSwitch) AddInput() int {
	s.inputs = append(s.inputs, &switchInput{s: s, i: len(s.inputs)})
	return len(s.inputs) - 1
}

// Input returns input i's writer (its frames, on the switch's goroutine).
func (s *VideoSwitch) Input(i int) media.FrameWriter { return s.inputs[i] }

// Wanted returns the input asked for and not shown yet (-1: none).
func (s *VideoSwitch) Wanted() int { return s.want }

// Active returns the input shown (-1: none yet).
func (s *VideoSwitch) Active() int { return s.active }

// Stats returns the counters.
func (s *VideoSwitch) Stats() SwitchStats { return s.stats }

// Select asks for input i (a new dominant speaker): a keyframe is requested from it (at
// most once per RequestInterval), and it is shown from that keyframe on. Selecting the
// input shown cancels a switch not made yet; an index out of range is ignored.
func (s *VideoSwitch) Select(i int) {
	if i < 0 || i >= len(s.inputs) {
		return
	}
	if i == s.active {
		s.want = -1
		return
	}
	s.want = i
	s.inputs[i].request()
}

// request asks the input for a keyframe unless it was asked within the interval.
func (in *switchInput) request() {
	s := in.s
	if in.asked && in.now-in.askedAt < s.cfg.RequestInterval {
		return
	}
	in.asked, in.askedAt = true, in.now
	s.stats.Requests++
	s.cfg.RequestKeyframe(in.i)
}

// WriteFrame takes one of the input's frames (H.264; other codecs are ignored).
func (in *switchInput) WriteFrame(f *media.Frame) error {
	if f.Codec != media.CodecH264 {
		return nil
	}
	s := in.s
	in.now = f.DTS
	if f.Track != nil && f.Track.SPS != nil && f.Track.PPS != nil {
		in.learn(f.Track.SPS, f.Track.PPS, f.Track.Width, f.Track.Height)
	} else if f.Keyframe {
		if sps, pps := h264.ParamSets(f.Data); sps != nil && pps != nil {
			in.learn(sps, pps, 0, 0)
		}
	}
	switch {
	case s.want == in.i && f.Keyframe && in.known && (!s.switched || f.DTS-s.switchedAt >= s.cfg.MinInterval):
		s.active, s.want = in.i, -1
		s.stats.Switches++
		s.switched, s.switchedAt = true, f.DTS
		return s.forward(in, f, true)
	case s.want == in.i:
		in.request() // still waiting: again once the interval has passed
		return nil
	case s.active == in.i:
		return s.forward(in, f, false)
	}
	return nil
}

// learn copies an input's parameter sets (its size from the SPS when not given).
func (in *switchInput) learn(sps, pps []byte, w, h int) {
	if in.known && bytes.Equal(sps, in.track.SPS) && bytes.Equal(pps, in.track.PPS) {
		return
	}
	if w == 0 || h == 0 {
		if p, err := h264.ParseSPS(sps); err == nil {
			w, h = p.Width, p.Height
		}
	}
	in.track.Codec, in.track.ClockRate = media.CodecH264, 90000
	in.track.SPS, in.track.PPS = append(in.track.SPS[:0], sps...), append(in.track.PPS[:0], pps...)
	in.track.Width, in.track.Height = w, h
	in.known = true
}

// forward sends a frame of the input shown; announce attaches the input's parameter
// sets (the keyframe switched on).
func (s *VideoSwitch) forward(in *switchInput, f *media.Frame, announce bool) error {
	s.out = *f
	s.out.Track = nil
	// Every keyframe carries the parameter sets too: outputs that start (or restart)
	// after the switch open their gate on any keyframe, not only on a switch.
	if announce || f.Track != nil || (f.Keyframe && in.known) {
		s.track = in.track // the slices are the input's: valid for this call
		s.out.Track = &s.track
	}
	if announce {
		if sps, _ := h264.ParamSets(f.Data); sps == nil {
			// In-band too: a parser that reads the stream (ffmpeg's, before its decoder
			// sees the new sequence header) must not read the new input's slices with
			// the old input's parameter sets.
			s.withPS = h264.AppendAVCC(h264.AppendAVCC(s.withPS[:0], in.track.SPS), in.track.PPS)
			s.withPS = append(s.withPS, f.Data...)
			s.out.Data = s.withPS
		}
	}
	if s.sent && s.out.DTS <= s.last {
		shift := s.last + time.Millisecond - s.out.DTS
		s.out.DTS += shift
		s.out.PTS += shift
		s.stats.Clamped++
	}
	s.last, s.sent = s.out.DTS, true
	s.stats.Forwarded++
	return s.cfg.Next.WriteFrame(&s.out)
}
