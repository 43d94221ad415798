package stage

import (
	"time"

	"github.com/sipcast/sipcast/media"
	"github.com/sipcast/sipcast/media/aac"
)

// Gate passes video from the first keyframe whose H.264 parameter sets are known (from
// Frame.Track, on the keyframe or before it) and drops the video before it, asking for a
// keyframe (once per wait; the receiver rate-limits its requests). Audio passes: Align,
// after the Gate, starts it with the picture.
type Gate struct {
	next            media.FrameWriter
	requestKeyframe func()
	paramSets       bool
	open, asked     bool
	dropped         uint64
}

// NewGate returns a Gate in front of next; requestKeyframe (nil: none) asks the source
// for a keyframe.
func NewGate(next media.FrameWriter, requestKeyframe func()) *Gate {
	return &Gate{next: next, requestKeyframe: requestKeyframe}
}

// WriteFrame passes f on, or drops video before the stream's first decodable picture.
func (g *Gate) WriteFrame(f *media.Frame) error {
	if !f.Codec.IsVideo() || g.open {
		return g.next.WriteFrame(f)
	}
	if f.Track != nil && len(f.Track.SPS) > 0 && len(f.Track.PPS) > 0 {
		g.paramSets = true
	}
	if f.Keyframe && (g.paramSets || f.Codec != media.CodecH264) {
		g.open = true
		return g.next.WriteFrame(f)
	}
	g.dropped++
	if !g.asked && g.requestKeyframe != nil {
		g.asked = true
		g.requestKeyframe()
	}
	return nil
}

// Open reports whether the video has started.
func (g *Gate) Open() bool { return g.open }

// Dropped counts the video frames dropped before the first picture.
func (g *Gate) Dropped() uint64 { return g.dropped }

// AlignConfig says what Align does.
type AlignConfig struct {
	// Video says the stream has a video track: audio waits for its first picture. Without
	// video Align passes audio as it comes.
	Video bool
	// Fill fills gaps in AAC audio with silence, given the audio's configuration (nil: no
	// filling; HE-AAC and multichannel audio are not filled either).
	Fill *aac.Config
	// Synthetic makes the whole audio track silence, level with the video, for a stream
	// whose source sends no audio (Fill is then the silent track's configuration,
	// SilentConfig by default). Audio frames written are dropped.
	Synthetic bool
}

// Align starts the audio with the picture and keeps AAC audio continuous (in the manner
// of Flashphoner's generate_av_for_ua):
//   - audio that comes before the first video keyframe is held (up to 3 s of it; then it
//     goes out as it is, the video seems gone) and released from the keyframe's
//     presentation time on; audio timed before that picture is dropped;
//   - with Fill, a gap in the audio (audio that starts late, or pauses) is filled with
//     silent frames once it is 500 ms old in video time; when the audio comes back, the
//     rest of the gap is filled up to it, and real frames that fall inside silence
//     already written are dropped;
//   - with Synthetic, the whole track is silence kept level with the video.
//
// Call Finish when the stream ends: it fills the audio up to the end of the video.
type Align struct {
	next  media.FrameWriter
	video bool
	s     *silence
	err   error
	write func(*media.Frame)
}

// NewAlign returns an Align in front of next.
func NewAlign(next media.FrameWriter, cfg AlignConfig) *Align {
	a := &Align{next: next, video: cfg.Video}
	if cfg.Synthetic && cfg.Fill == nil {
		c := SilentConfig
		cfg.Fill = &c
	}
	if cfg.Fill != nil {
		a.s = newSilence(*cfg.Fill, cfg.Synthetic)
	}
	if a.s == nil {
		a.s = holdOnly()
	}
	a.write = func(f *media.Frame) {
		if err := a.next.WriteFrame(f); err != nil && a.err == nil {
			a.err = err
		}
	}
	return a
}

// WriteFrame writes f, and the silence before it, or holds or drops it.
func (a *Align) WriteFrame(f *media.Frame) error {
	switch {
	case !a.video:
		return a.next.WriteFrame(f)
	case f.Codec.IsVideo():
		a.write(f)
		a.s.video(f, a.write)
	case f.Codec.IsAudio():
		if a.s.audio(f, a.write) {
			a.write(f)
		}
	default:
		a.write(f)
	}
	return a.takeErr()
}

func (a *Align) takeErr() error {
	err := a.err
	a.err = nil
	return err
}

// Finish fills the audio up to the end of the video's presentation: the stream ended,
// no audio is late any more.
func (a *Align) Finish() error {
	if a.video {
		a.s.finish(a.write)
	}
	return a.takeErr()
}

// Inserted counts the silent frames written; Dropped the audio frames dropped (timed
// before the first picture, or inside silence already written).
func (a *Align) Inserted() uint64 { return a.s.inserted }

// Dropped counts the audio frames dropped.
func (a *Align) Dropped() uint64 { return a.s.dropped }

// Monotonic keeps the decode times of each kind (audio, video) from going back, which
// they do when a source restarts its timeline (a new SSRC) or a loss leaves the B-frame
// timing without a frame it counted on: a frame timed at or before the last one of its
// kind is moved to 1 ms after it (PTS with it, keeping their distance).
type Monotonic struct {
	next         media.FrameWriter
	lastA, lastV time.Duration
	haveA, haveV bool
	clamped      uint64
	f            media.Frame
}

// NewMonotonic returns a Monotonic in front of next.
func NewMonotonic(next media.FrameWriter) *Monotonic { return &Monotonic{next: next} }

// WriteFrame passes f on with its decode time clamped.
func (m *Monotonic) WriteFrame(f *media.Frame) error {
	last, have := &m.lastA, &m.haveA
	if f.Codec.IsVideo() {
		last, have = &m.lastV, &m.haveV
	}
	if *have && f.DTS <= *last {
		// One millisecond on (FLV's resolution): two frames of a kind at one decode time
		// are as wrong for a muxer as one that goes back.
		to := *last + time.Millisecond
		m.clamped++
		m.f = *f
		m.f.PTS += to - f.DTS
		m.f.DTS = to
		f = &m.f
	}
	*last, *have = f.DTS, true
	return m.next.WriteFrame(f)
}

// Clamped counts the frames whose decode time was moved.
func (m *Monotonic) Clamped() uint64 { return m.clamped }

// Tee gives every frame to each of its writers. A writer that returns an error gets no
// more frames; OnError (when set) is told, once per writer.
type Tee struct {
	ws      []media.FrameWriter
	OnError func(i int, err error)
}

// NewTee returns a Tee of ws (nil entries are skipped).
func NewTee(ws ...media.FrameWriter) *Tee { return &Tee{ws: ws} }

// Add appends a writer and returns its index.
func (t *Tee) Add(w media.FrameWriter) int { t.ws = append(t.ws, w); return len(t.ws) - 1 }

// Set replaces writer i (nil removes it).
func (t *Tee) Set(i int, w media.FrameWriter) { t.ws[i] = w }

// Writers returns the writers that have not failed or been removed.
func (t *Tee) Writers() []media.FrameWriter {
	var out []media.FrameWriter
	for _, w := range t.ws {
		if w != nil {
			out = append(out, w)
		}
	}
	return out
}

// WriteFrame writes f to every writer; it never fails.
func (t *Tee) WriteFrame(f *media.Frame) error {
	for i, w := range t.ws {
		if w == nil {
			continue
		}
		if err := w.WriteFrame(f); err != nil {
			t.ws[i] = nil
			if t.OnError != nil {
				t.OnError(i, err)
			}
		}
	}
	return nil
}

var (
	_ media.FrameWriter = (*Gate)(nil)
	_ media.FrameWriter = (*Align)(nil)
	_ media.FrameWriter = (*Monotonic)(nil)
	_ media.FrameWriter = (*Tee)(nil)
)
