package resample

import (
	"errors"
	"fmt"
	"math"
)

// Config says what a Resampler converts and how well.
type Config struct {
	// In and Out are the sample rates (Hz), each one of 8000, 16000, 32000, 44100, 48000.
	In, Out int
	// Channels is the number of interleaved channels (1 or 2).
	Channels int
	// Passband is the end of the passband as a fraction of the lower rate's Nyquist
	// frequency (default 0.9); the stopband starts at that Nyquist frequency.
	Passband float64
	// StopbandDB is the stopband rejection the filter is designed for (default 90 dB).
	StopbandDB float64
	// Relaxed centres the transition band on that Nyquist frequency (from Passband to
	// 2-Passband of it) instead of ending it there: the filters are half as long, and
	// doubling the rate takes a half-band filter, every other output of which is an
	// input sample. Tones in the passband stay as clean; only what lies within the
	// transition band's width of the Nyquist frequency leaves images or aliases, and
	// those lie above the passband. For a path
	// that discards that band anyway: an encoder that codes nothing above the lower
	// Nyquist frequency (the Transcoder, G.711 to AAC), or a source with nothing there.
	Relaxed bool
}

// Rates are the sample rates a Resampler converts between.
var Rates = []int{8000, 16000, 32000, 44100, 48000}

// Resampler converts one stream. Not safe for concurrent use.
//
// Upsampling by more than two, it runs two stages: the sharp filter doubles the rate
// (where its taps are fewest), and a short one, whose transition band is wide, makes
// the output rate from there. The result meets the same figures at a third of the cost
// (8 to 48 kHz: 29 multiply-adds per output sample, not 116).
type Resampler struct {
	ch     int
	stages []*stage
	tmp    []float32 // the first stage's output
	// in and out count the stream's frames, for Flush to end the output where the input
	// ended; l/m is out/in, reduced.
	in, out int64
	l, m    int64
}

// stage is one polyphase windowed-sinc filter.
type stage struct {
	ch     int
	l, m   int         // out/in = l/m, reduced
	taps   int         // per phase: input samples each output sums
	half   int         // taps/2: the input samples before the output time
	phases [][]float32 // by phase (output time's fraction of an input sample, in 1/l)
	// copyTap is, by phase, the one tap of a phase that only delays its input (a
	// half-band filter's phase 0), or -1.
	copyTap []int
	buf     []float32 // input not yet consumed, interleaved, with the history in front
	// The next output's time, from buf's first frame + half: base input frames and
	// phase/l of one more. Each output steps it by m/l: mq frames and mr/l.
	base, phase int
	mq, mr      int
}

// New returns a Resampler for cfg.
func New(cfg Config) (*Resampler, error) {
	ok := func(r int) bool {
		for _, x := range Rates {
			if r == x {
				return true
			}
		}
		return false
	}
	if !ok(cfg.In) || !ok(cfg.Out) {
		return nil, fmt.Errorf("resample: %d Hz to %d Hz: rates must be among %v", cfg.In, cfg.Out, Rates)
	}
	if cfg.Channels != 1 && cfg.Channels != 2 {
		return nil, errors.New("resample: 1 or 2 channels")
	}
	if cfg.Passband == 0 {
		cfg.Passband = 0.9
	}
	if cfg.StopbandDB == 0 {
		cfg.StopbandDB = 90
	}
	if cfg.Passband <= 0 || cfg.Passband >= 1 || cfg.StopbandDB < 20 || cfg.StopbandDB > 150 {
		return nil, errors.New("resample: passband in (0, 1), stopband 20 to 150 dB")
	}
	g := gcd(cfg.In, cfg.Out)
	r := &Resampler{ch: cfg.Channels, l: int64(cfg.Out / g), m: int64(cfg.In / g)}
	low := float64(min(cfg.In, cfg.Out)) / 2 // the lower Nyquist frequency
	pass, stop := cfg.Passband*low, low
	if cfg.Relaxed {
		stop = (2 - cfg.Passband) * low
	}
	if cfg.Out > 2*cfg.In {
		// Double the rate with the sharp filter: the band ends at the input's Nyquist
		// frequency. Then the images of that band lie from 1.5 times the input rate, so
		// the second filter's transition runs from the passband's end to there (or to
		// the output's Nyquist frequency, when that is lower).
		mid := 2 * cfg.In
		stop2 := math.Min(float64(mid)-stop, float64(cfg.Out)/2)
		if cfg.Relaxed {
			// Centred on the doubled rate's Nyquist frequency, one phase in three
			// (doubling 16 to 48 kHz) is a copy of its input too.
			stop2 = math.Min(float64(mid)-pass, float64(cfg.Out)/2)
		}
		r.stages = []*stage{
			newStage(cfg.In, mid, cfg.Channels, pass, stop, cfg.StopbandDB),
			newStage(mid, cfg.Out, cfg.Channels, pass, stop2, cfg.StopbandDB),
		}
	} else {
		r.stages = []*stage{newStage(cfg.In, cfg.Out, cfg.Channels, pass, stop, cfg.StopbandDB)}
	}
	r.Reset()
	return r, nil
}

// newStage designs a filter from in to out Hz whose passband ends at pass Hz and whose
// stopband, a dB down, starts at stop Hz.
func newStage(in, out, ch int, pass, stop, a float64) *stage {
	g := gcd(in, out)
	s := &stage{ch: ch, l: out / g, m: in / g}
	s.mq, s.mr = s.m/s.l, s.m%s.l
	// The prototype, in input-sample units: cutoff halfway through the transition band.
	fc := (pass + stop) / float64(in)                              // cutoff, in cycles per 2 input samples
	trans := (stop - pass) / float64(in)                           // transition width, cycles per input sample
	length := int(math.Ceil((a-7.95)/(2.285*2*math.Pi*trans))) + 1 // Kaiser's estimate
	s.half = (length + 1) / 2
	s.taps = 2 * s.half
	beta := 0.1102 * (a - 8.7)
	if a < 50 {
		beta = 0.5842*math.Pow(a-21, 0.4) + 0.07886*(a-21)
	}
	i0b := bessI0(beta)
	s.phases = make([][]float32, s.l)
	for p := range s.l {
		h := make([]float32, s.taps)
		frac := float64(p) / float64(s.l)
		for k := range s.taps {
			x := frac - float64(k-s.half+1) // output time less the input sample's time
			w := 0.0
			if u := x / float64(s.half); u > -1 && u < 1 {
				w = bessI0(beta*math.Sqrt(1-u*u)) / i0b
			}
			h[k] = float32(fc * sinc(fc*x) * w)
		}
		s.phases[p] = h
		s.copyTap = append(s.copyTap, -1)
		if frac == 0 && fc == 1 { // sinc(x) is 0 at every tap but x = 0, where it is 1
			s.copyTap[p] = s.half - 1
		}
	}
	s.buf = make([]float32, 0, (s.taps+4096)*ch)
	return s
}

// Reset forgets the stream: the next input starts a new one.
func (r *Resampler) Reset() {
	for _, s := range r.stages {
		s.reset()
	}
	r.in, r.out = 0, 0
	if r.tmp == nil && len(r.stages) > 1 {
		r.tmp = make([]float32, 0, 4096*r.ch)
	}
}

func (s *stage) reset() {
	s.buf = s.buf[:0]
	for range (s.half - 1) * s.ch {
		s.buf = append(s.buf, 0) // the history before the first sample: silence
	}
	s.base, s.phase = 0, 0
}

// CopyState makes r's stream where from's is (from made by New with the same Config):
// its history, position and counts, so that r goes on from there exactly as from
// would. Nothing is allocated once r's buffers have grown to from's.
func (r *Resampler) CopyState(from *Resampler) {
	for i, s := range r.stages {
		f := from.stages[i]
		s.buf = append(s.buf[:0], f.buf...)
		s.base, s.phase = f.base, f.phase
	}
	r.in, r.out = from.in, from.out
}

// Latency is how many input frames the Resampler holds before an output frame that
// depends on them can come out (the filters' look-ahead).
func (r *Resampler) Latency() int {
	n := float64(r.stages[0].half)
	if len(r.stages) > 1 {
		n += float64(r.stages[1].half) / 2 // the second stage runs at twice the input rate
	}
	return int(math.Ceil(n))
}

// MultiplyAdds is the filters' cost: multiply-adds per output sample (and channel).
func (r *Resampler) MultiplyAdds() float64 {
	first := r.stages[0]
	if len(r.stages) == 1 {
		return first.cost()
	}
	second := r.stages[1]
	perOut := float64(second.m) / float64(second.l) // first-stage samples per output sample
	return second.cost() + perOut*first.cost()
}

// cost is the stage's multiply-adds per output sample, on average over its phases.
func (s *stage) cost() float64 {
	n := 0
	for _, k := range s.copyTap {
		if k < 0 {
			n += s.taps
		}
	}
	return float64(n) / float64(s.l)
}

// Process takes interleaved input and appends the output it makes to dst.
func (r *Resampler) Process(dst, src []float32) []float32 {
	r.in += int64(len(src) / r.ch)
	return r.process(dst, src)
}

func (r *Resampler) process(dst, src []float32) []float32 {
	n0 := len(dst)
	if len(r.stages) == 1 {
		dst = r.stages[0].process(dst, src)
	} else {
		r.tmp = r.stages[0].process(r.tmp[:0], src)
		dst = r.stages[1].process(dst, r.tmp)
	}
	r.out += int64((len(dst) - n0) / r.ch)
	return dst
}

func (s *stage) process(dst, src []float32) []float32 {
	s.buf = append(s.buf, src...)
	// The loop keeps its state in locals (the fields, behind a pointer, would be loaded
	// and stored around every append).
	buf, taps, base, phase := s.buf, s.taps, s.base, s.phase
	frames := len(buf) / s.ch
	for base+taps <= frames {
		h := s.phases[phase]
		switch k := s.copyTap[phase]; {
		case k >= 0:
			i := (base + k) * s.ch
			dst = append(dst, buf[i:i+s.ch]...)
		case s.ch == 1:
			dst = append(dst, dot(h, buf[base:base+taps]))
		default:
			x := buf[2*base : 2*base+2*taps]
			x = x[:2*len(h)]
			var s0, s1 float32
			for k, c := range h {
				s0 += c * x[2*k]
				s1 += c * x[2*k+1]
			}
			dst = append(dst, s0, s1)
		}
		base += s.mq
		if phase += s.mr; phase >= s.l {
			phase -= s.l
			base++
		}
	}
	// Drop the frames no later output needs.
	if base > 0 {
		n := copy(buf, buf[base*s.ch:])
		s.buf = buf[:n]
	}
	s.base, s.phase = 0, phase
	return dst
}

// dot is Σ h[k]·x[k], in four running sums (the adds of one do not wait for another's).
func dot(h, x []float32) float32 {
	x = x[:len(h)]
	var s0, s1, s2, s3 float32
	for len(h) >= 4 && len(x) >= 4 {
		s0 += h[0] * x[0]
		s1 += h[1] * x[1]
		s2 += h[2] * x[2]
		s3 += h[3] * x[3]
		h, x = h[4:], x[4:]
	}
	for i, c := range h {
		s0 += c * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// Flush appends the output the look-ahead still holds, up to where the input ended (the
// input followed by silence), and resets the Resampler.
func (r *Resampler) Flush(dst []float32) []float32 {
	want := (r.in*r.l + r.m - 1) / r.m // outputs timed before the input's end
	var zero [64]float32
	for r.out < want {
		dst = r.process(dst, zero[:64/r.ch*r.ch])
		if r.out > want {
			dst = dst[:len(dst)-int(r.out-want)*r.ch]
			r.out = want
		}
	}
	r.Reset()
	return dst
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// bessI0 is the modified Bessel function of the first kind, order 0 (series).
func bessI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / 2) / float64(k)
		sum += term * term
		if term*term < sum*1e-17 {
			break
		}
	}
	return sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
