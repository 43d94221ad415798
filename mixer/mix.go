package mixer

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sipcast/sipcast/mixer/resample"
)

// MixConfig configures a Mixer.
type MixConfig struct {
	// Rate is the mixing rate in Hz: 8000, 16000 (the default: wideband, for G.722 legs)
	// or 48000.
	Rate int
	// Delay is each input's playout delay, in 20 ms steps (default 3: 60 ms): how late a
	// frame may arrive (jitter, reordering) and still be mixed in its place.
	Delay int
	// HoldOff is the least time between two changes of the dominant speaker (default
	// 1.5 s), so that the picture that follows it does not flap.
	HoldOff time.Duration
	// Limit is the level the limiter keeps every output under, as a fraction of full
	// scale (default 0.9).
	Limit float64
}

// mixSlots bounds the frames an input holds: a flood fills them and no more.
const mixSlots = 16

// silentDBov is the level (dBov, RFC 6464's scale) at or below which a frame is silent:
// it neither speaks nor contributes to the mix.
const silentDBov = -60

// Mixer mixes the audio of a conference's participants on a 20 ms clock that its owner
// steps (Step): a full mix for the stream and the recording, and for each input its
// mix-minus (everyone but itself), each through a limiter instead of hard clipping.
// Each input has its own jitter handling (frames placed by their timestamps, played
// Delay steps later), gain, mutes and level (RFC 6464 when the leg sends it, the
// frame's energy otherwise); the Mixer follows the dominant speaker with a hold-off.
// Not safe for concurrent use: one goroutine owns it (its inputs' Write included).
type Mixer struct {
	cfg      MixConfig
	frame    int // samples per 20 ms step
	inputs   []*MixInput
	step     int64
	sum      []float32 // the step's sum of contributions (gain applied)
	zeros    []float32 // a silent frame
	mix      []float32 // the full mix, limited
	limiter  limiter
	dominant *MixInput
	switched int64 // the step the dominant speaker last changed
}

// MixInput is one participant: what it sends (Write) and what it hears (MixMinus).
type MixInput struct {
	m    *Mixer
	id   string
	rate int
	rs   *resample.Resampler // to the mixing rate; nil at it
	tmp  []float32
	// slots hold the frames by step (step % mixSlots), with the step they are for.
	slots   [mixSlots][]float32
	slotAt  [mixSlots]int64
	slotLvl [mixSlots]int // RFC 6464 level (-dBov), or -1 when not sent
	slotDB  [mixSlots]float64
	// rsStale: silent frames were not resampled; the resampler starts again from
	// silence (prime: its look-ahead of zeros) at the next sound.
	rsStale bool
	prime   []float32
	// lateRun counts the late frames in a row (a timeline to start again).
	lateRun int
	// origin maps the input's timestamps onto the mixer's steps: the step of timestamp
	// zero (set by the first frame).
	origin  int64
	started bool
	gain    float32
	// RxMute leaves the input out of every mix (muted through the API: what it sends is
	// not heard); TxMute gives it silence (it hears nothing).
	rxMute, txMute bool

	cur        []float32 // this step's frame (gain applied), or nil
	level      float64   // this step's level, dBov
	activity   float64   // smoothed speech activity, for the dominant speaker
	out        []float32 // its mix-minus, limited
	limiter    limiter
	contribute bool

	// Counted: frames mixed; frames that came too late, or so far ahead that the
	// timeline started again; frames refused (not 20 ms); steps with no frame (lost or
	// not sent).
	Mixed, Late, Early, Refused, Missing uint64
}

// NewMixer returns a Mixer for cfg.
func NewMixer(cfg MixConfig) (*Mixer, error) {
	if cfg.Rate == 0 {
		cfg.Rate = 16000
	}
	if cfg.Rate != 8000 && cfg.Rate != 16000 && cfg.Rate != 48000 {
		return nil, fmt.Errorf("mixer: mixing rate %d: 8000, 16000 or 48000", cfg.Rate)
	}
	if cfg.Delay == 0 {
		cfg.Delay = 3
	}
	if cfg.Delay < 1 || cfg.Delay >= mixSlots/2 {
		return nil, fmt.Errorf("mixer: delay %d steps: 1 to %d", cfg.Delay, mixSlots/2-1)
	}
	if cfg.HoldOff == 0 {
		cfg.HoldOff = 1500 * time.Millisecond
	}
	if cfg.Limit == 0 {
		cfg.Limit = 0.9
	}
	if cfg.Limit <= 0 || cfg.Limit > 1 {
		return nil, errors.New("mixer: limit in (0, 1]")
	}
	n := cfg.Rate / 50
	m := &Mixer{cfg: cfg, frame: n, sum: make([]float32, n), mix: make([]float32, n), zeros: make([]float32, n)}
	m.limiter.init(cfg.Limit, cfg.Rate)
	return m, nil
}

// FrameSamples is the samples of one 20 ms step at the mixing rate.
func (m *Mixer) FrameSamples() int { return m.frame }

// Add adds a participant whose audio comes at rate (8000, 16000 or 48000 Hz).
func (m *Mixer) Add(id string, rate int) (*MixInput, error) {
	in := &MixInput{m: m, id: id, rate: rate, gain: 1, out: make([]float32, m.frame), level: -127}
	if rate != m.cfg.Rate {
		// Relaxed: the transition band centred on the lower Nyquist frequency (half the
		// taps); what it lets through lies within 10 % of that frequency.
		rs, err := resample.New(resample.Config{In: rate, Out: m.cfg.Rate, Channels: 1, Relaxed: true})
		if err != nil {
			return nil, fmt.Errorf("mixer: input %s: %w", id, err)
		}
		in.rs, in.tmp = rs, make([]float32, 0, 3*m.frame)
		// Primed with its look-ahead of silence, the resampler makes a whole frame of
		// every frame it takes (the input a few milliseconds later).
		in.prime = make([]float32, rs.Latency())
		in.tmp = append(in.tmp[:0], in.prime...)
		_ = rs.Process(nil, in.tmp)
	}
	for i := range in.slots {
		in.slots[i] = make([]float32, 0, m.frame)
		in.slotAt[i] = -1
	}
	in.limiter.init(m.cfg.Limit, m.cfg.Rate)
	m.inputs = append(m.inputs, in)
	return in, nil
}

// Remove takes a participant out.
func (m *Mixer) Remove(in *MixInput) {
	for i, x := range m.inputs {
		if x == in {
			m.inputs = append(m.inputs[:i], m.inputs[i+1:]...)
			break
		}
	}
	if m.dominant == in {
		m.dominant = nil
	}
}

// ID is the participant's id.
func (in *MixInput) ID() string { return in.id }

// SetGain sets the input's gain (1: as sent).
func (in *MixInput) SetGain(g float64) { in.gain = float32(g) }

// SetRxMute leaves what the participant sends out of every mix (or puts it back).
func (in *MixInput) SetRxMute(on bool) { in.rxMute = on }

// SetTxMute gives the participant silence in place of its mix-minus (or its mix back).
func (in *MixInput) SetTxMute(on bool) { in.txMute = on }

// Write takes a decoded 20 ms frame: pcm at the input's rate, ts its first sample's
// time in the input's own timeline (the RTP timestamp's), level its RFC 6464 audio
// level (0 to 127, -dBov) or -1 when the leg sends none. A frame is mixed Delay steps
// after the step its time falls on; one too late is counted and left out, one too far
// ahead starts the input's timeline again, and a frame of another length than 20 ms is
// refused.
func (in *MixInput) Write(ts time.Duration, pcm []int16, level int) {
	if len(pcm) != in.rate/50 {
		in.Refused++
		return
	}
	m := in.m
	rel := int64(ts / (20 * time.Millisecond))
	if !in.started {
		in.started, in.origin = true, m.step-rel
	}
	at := in.origin + rel + int64(m.cfg.Delay)
	switch {
	case at < m.step-mixSlots/2 || (at < m.step && in.lateRun >= m.cfg.Delay):
		// Far behind, or late frame after late frame: the input's timeline moved back
		// (its sender's clock, or this mixer's steps made up after a stall): it starts
		// again from this frame, or every frame after it would be late too.
		in.origin = m.step - rel
		at = m.step + int64(m.cfg.Delay)
		in.Late++
		in.lateRun = 0
	case at < m.step:
		in.Late++
		in.lateRun++
		return
	case at >= m.step+mixSlots:
		// Far ahead: a new timeline (the sender's restarted, or its timestamps jumped).
		// It starts again from this frame.
		in.origin = m.step - rel
		at = m.step + int64(m.cfg.Delay)
		in.Early++
	}
	in.lateRun = 0
	k := at % mixSlots
	s := in.slots[k][:0]
	lvl := -1
	if level >= 0 && level <= 127 {
		lvl = level
	}
	// A silent frame (by its RFC 6464 level, or its energy) is kept as silence without
	// being resampled: most of a large conference is quiet, and it contributes nothing.
	// The resampler starts again from silence at the next sound (what it held was under
	// the silence level).
	if db := pcmDBov(pcm); (lvl >= 0 && -float64(lvl) <= silentDBov) || (lvl < 0 && db <= silentDBov) {
		in.slots[k], in.slotAt[k], in.slotLvl[k], in.slotDB[k] = s, at, lvl, db
		in.rsStale = in.rs != nil
		return
	}
	if in.rsStale {
		in.rsStale = false
		in.rs.Reset()
		in.tmp = append(in.tmp[:0], in.prime...)
		_ = in.rs.Process(in.tmp[len(in.tmp):], in.tmp)
	}
	if in.rs != nil {
		in.tmp = in.tmp[:0]
		for _, v := range pcm {
			in.tmp = append(in.tmp, float32(v)/32768)
		}
		s = in.rs.Process(s, in.tmp)
		if len(s) > m.frame {
			s = s[:m.frame]
		}
		for len(s) < m.frame { // (not after priming)
			s = append(s, 0)
		}
	} else {
		for _, v := range pcm {
			s = append(s, float32(v)/32768)
		}
	}
	in.slots[k], in.slotAt[k] = s, at
	in.slotLvl[k] = lvl
}

// pcmDBov is a frame's RMS level in dBov (-127 for digital silence).
func pcmDBov(x []int16) float64 {
	var e int64
	for _, v := range x {
		e += int64(v) * int64(v)
	}
	if e == 0 {
		return -127
	}
	return max(-127, 10*math.Log10(2*float64(e)/(32768*32768*float64(len(x)))))
}

// Step mixes the next 20 ms: each input's frame for it (or silence), the full mix and
// every mix-minus, and the dominant speaker.
func (m *Mixer) Step() {
	clear(m.sum)
	for _, in := range m.inputs {
		in.take(m.step)
		in.contribute = in.cur != nil && !in.rxMute && in.level > silentDBov
		if in.contribute {
			for i, v := range in.cur {
				m.sum[i] += v
			}
		}
	}
	copy(m.mix, m.sum)
	m.limiter.apply(m.mix)
	for _, in := range m.inputs {
		switch {
		case in.txMute:
			clear(in.out)
			in.limiter.reset()
		case in.contribute:
			for i := range in.out {
				in.out[i] = m.sum[i] - in.cur[i]
			}
			in.limiter.apply(in.out)
		default:
			copy(in.out, m.mix) // hears the full mix: the same samples
			in.limiter = m.limiter
		}
	}
	m.follow()
	m.step++
}

// take sets cur and level from the frame for step s, and ages activity.
func (in *MixInput) take(s int64) {
	k := s % mixSlots
	in.cur = nil
	in.level = -127
	if in.slotAt[k] == s && len(in.slots[k]) == 0 { // a silent frame (Write)
		in.cur = in.m.zeros
		in.slotAt[k] = -1
		in.Mixed++
		in.level = in.slotDB[k]
		if l := in.slotLvl[k]; l >= 0 {
			in.level = -float64(l)
		}
	} else if in.slotAt[k] == s {
		in.cur = in.slots[k]
		in.slotAt[k] = -1
		in.Mixed++
		if g := in.gain; g != 1 {
			for i := range in.cur {
				in.cur[i] *= g
			}
		}
		if l := in.slotLvl[k]; l >= 0 {
			in.level = -float64(l)
		} else {
			in.level = dBov(in.cur)
		}
	} else if in.started {
		in.Missing++
	}
	// Speech activity: how far above silence the level is, smoothed over about 300 ms.
	a := 0.0
	if in.cur != nil && !in.rxMute {
		a = max(0, in.level-silentDBov)
	}
	in.activity += (a - in.activity) * 0.07
}

// dBov is a frame's RMS level in dB below full scale (-127 for digital silence).
func dBov(x []float32) float64 {
	var e float64
	for _, v := range x {
		e += float64(v) * float64(v)
	}
	if e == 0 {
		return -127
	}
	// A full-scale sine is 0 dBov (RFC 6464): its mean square is 1/2.
	return max(-127, 10*math.Log10(2*e/float64(len(x))))
}

// follow updates the dominant speaker: the input with the most speech activity, when
// it exceeds the current one's by a margin (6 dB of activity) and the hold-off has
// passed since the last change.
func (m *Mixer) follow() {
	var best *MixInput
	for _, in := range m.inputs {
		if best == nil || in.activity > best.activity {
			best = in
		}
	}
	if best == nil || best == m.dominant || best.activity < 3 {
		return
	}
	holdOff := int64(m.cfg.HoldOff / (20 * time.Millisecond))
	if m.dominant != nil && (best.activity < m.dominant.activity+6 || m.step-m.switched < holdOff) {
		return
	}
	m.dominant, m.switched = best, m.step
}

// Mix is the last step's full mix (everyone, limited), at the mixing rate: valid until
// the next Step.
func (m *Mixer) Mix() []float32 { return m.mix }

// Dominant is the dominant speaker, or nil before anyone has spoken.
func (m *Mixer) Dominant() *MixInput { return m.dominant }

// MixMinus is what the participant hears from the last step: everyone but itself,
// limited (silence while tx-muted). Valid until the next Step.
func (in *MixInput) MixMinus() []float32 { return in.out }

// HearsFullMix says whether the participant's mix-minus of the last step was the full
// mix (it contributed nothing): participants that share a codec and hear the full mix
// can share one encode of it.
func (in *MixInput) HearsFullMix() bool { return !in.contribute && !in.txMute }

// Level is the participant's level in the last step, dBov (-127: nothing).
func (in *MixInput) Level() float64 { return in.level }

// limiter keeps a signal under a level with no hard clipping: an envelope that follows
// peaks at once and falls back over about 50 ms, and a gain of limit/envelope above
// the limit.
type limiter struct {
	limit, release float64
	env            float64
	gain           float64 // the last sample's
}

func (l *limiter) init(limit float64, rate int) {
	l.limit = limit
	l.release = math.Exp(-1 / (0.05 * float64(rate)))
	l.reset()
}

func (l *limiter) reset() { l.env, l.gain = 0, 1 }

func (l *limiter) apply(x []float32) {
	env, lim, rel := l.env, l.limit, l.release
	for i, v := range x {
		a := math.Abs(float64(v))
		env = max(a, env*rel+(1-rel)*a)
		g := 1.0
		if env > lim {
			g = lim / env
		}
		x[i] = float32(float64(v) * g)
		l.gain = g
	}
	l.env = env
}
