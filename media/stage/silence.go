package stage

import (
	"time"

	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/aac"
)

// fillLag is how long, in video time, the audio of a call with an audio track must be
// absent before silence fills the gap: longer than any difference in the delivery of the
// two tracks, so that late audio is never overtaken by silence.
const fillLag = 500 * time.Millisecond

// SilentConfig is the configuration of the silent track that Align makes for a stream
// with video and no audio (Synthetic): AAC-LC, 48 kHz, mono.
var SilentConfig = aac.Config{ObjectType: aac.ObjectTypeAACLC, SampleRate: 48000, Channels: 1}

// silence is Align's state: see Align. With no silent frame (fill off, or an AAC
// configuration it cannot make silence for) it only holds and trims.
type silence struct {
	frame     media.Frame
	rate      int64
	synthetic bool
	on        bool
	// start is the first keyframe's PTS: the outputs' audio starts there.
	start time.Duration
	seen  bool
	// next is the DTS where the next audio frame belongs: base plus samples.
	base    time.Duration
	samples int64
	// filledUntil is the end of the last silent frame written, 0 when real audio
	// followed it.
	filledUntil time.Duration
	inserted    uint64
	dropped     uint64
	// held is the audio that came before the first keyframe (its data copied), released
	// from the keyframe's time on when the keyframe comes, or oldest first once it
	// spans maxHold.
	held  []media.Frame
	spare [][]byte
	// videoEnd is where the audio would be level with the last video frame's decode
	// time; shownEnd is where the video's presentation ends (its latest PTS plus a frame
	// interval).
	videoEnd, shownEnd, lastDTS time.Duration
}

func newSilence(cfg aac.Config, synthetic bool) *silence {
	f, err := aac.SilentFrame(cfg)
	if err != nil {
		return nil // HE-AAC, multichannel: no filling
	}
	return &silence{frame: media.Frame{Codec: media.CodecAAC, Keyframe: true, Data: f}, rate: int64(cfg.SampleRate), synthetic: synthetic}
}

// holdOnly is the state of an Align that holds and trims the audio but fills nothing.
func holdOnly() *silence { return &silence{rate: 48000} }

func (s *silence) next() time.Duration {
	return s.base + time.Duration(s.samples*int64(time.Second)/s.rate)
}

func (s *silence) frameDuration() time.Duration {
	return time.Duration(aac.SamplesPerFrame * int64(time.Second) / s.rate)
}

// maxHold bounds the audio held for the first keyframe (the RTMP publisher's own wait
// for it is as long).
const maxHold = 3 * time.Second

// maxFill bounds the silence written in one go: a jump in the timeline beyond it (the
// sender's clock jumped) is skipped, not filled.
const maxFill = 5 * time.Second

// fill writes silent frames while they end by limit.
func (s *silence) fill(limit time.Duration, write func(*media.Frame)) {
	if s.frame.Data == nil {
		return // holding only
	}
	d := s.frameDuration()
	if limit-s.next() > maxFill {
		s.base, s.samples = limit-d, 0
	}
	for n := s.next(); n+d <= limit; n = s.next() {
		s.frame.DTS, s.frame.PTS = n, n
		write(&s.frame)
		s.samples += aac.SamplesPerFrame
		if s.samples >= s.rate { // whole seconds into base: samples × 1e9 never overflows
			s.base += time.Duration(s.samples/s.rate) * time.Second
			s.samples %= s.rate
		}
		s.filledUntil = s.next()
		s.inserted++
	}
}

// video is called after each video frame was written.
func (s *silence) video(f *media.Frame, write func(*media.Frame)) {
	if !s.on {
		if !f.Keyframe {
			return
		}
		s.on, s.start = true, f.PTS
		if !s.seen {
			s.base, s.samples = f.PTS, 0 // the picture shows at its PTS (B-frames: after its DTS)
		}
		held := s.held
		s.held = s.held[:0]
		s.seen = false
		for i := range held {
			if s.audio(&held[i], write) {
				write(&held[i])
			}
			s.spare = append(s.spare, held[i].Data)
		}
		if !s.seen {
			s.base, s.samples = f.PTS, 0
		}
	}
	lag := fillLag
	if s.synthetic {
		lag = 0
	}
	s.videoEnd = f.DTS + s.frameDuration()
	if step := f.DTS - s.lastDTS; step > 0 && step < time.Second {
		s.shownEnd = max(s.shownEnd, f.PTS+step)
	}
	s.lastDTS = f.DTS
	s.fill(s.videoEnd-lag, write)
}

// finish fills the audio up to the end of the video's presentation: the call ended, no
// audio is late any more.
func (s *silence) finish(write func(*media.Frame)) {
	if s.on {
		s.fill(max(s.videoEnd, s.shownEnd)+s.frameDuration()/2, write)
	}
}

// audio is called before a real audio frame is written: it fills the gap before it and
// reports whether the frame is to be written.
func (s *silence) audio(f *media.Frame, write func(*media.Frame)) bool {
	if s.synthetic {
		return false // the outputs' audio track is the silent one
	}
	half := s.frameDuration() / 2
	if !s.on {
		// Before the first picture: hold the audio until the keyframe says where the
		// outputs start (video comes out later than audio: reordering, jitter buffers).
		for len(s.held) > 0 && f.DTS-s.held[0].DTS >= maxHold {
			write(&s.held[0])
			s.spare = append(s.spare, s.held[0].Data)
			s.held = append(s.held[:0], s.held[1:]...)
		}
		var buf []byte
		if n := len(s.spare); n > 0 {
			buf, s.spare = s.spare[n-1][:0], s.spare[:n-1]
		}
		h := *f
		h.Data = append(buf, f.Data...)
		s.held = append(s.held, h)
		return false
	}
	if f.DTS < s.start-half {
		s.dropped++ // sound from before the first picture
		return false
	}
	if s.filledUntil > 0 && f.DTS < s.filledUntil-half {
		s.dropped++ // inside silence already written
		return false
	}
	s.fill(f.DTS+half, write)
	s.seen = true
	s.base, s.samples, s.filledUntil = f.DTS, aac.SamplesPerFrame, 0
	return true
}
