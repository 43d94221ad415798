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
}

// Rates are the sample rates a Resampler converts between.
var Rates = []int{8000, 16000, 32000, 44100, 48000}

// Resampler converts one stream. Not safe for concurrent use.
type Resampler struct {
	ch     int
	l, m   int         // out/in = l/m, reduced
	taps   int         // per phase: input samples each output sums
	half   int         // taps/2: the input samples before the output time
	phases [][]float32 // by phase (output time's fraction of an input sample, in 1/l)
	buf    []float32   // input not yet consumed, interleaved, with the history in front
	pos    int         // next output time in 1/l input samples, from buf's first frame + half
	// in and out count the stream's frames, for Flush to end the output where the input
	// ended.
	in, out int64
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
	r := &Resampler{ch: cfg.Channels, l: cfg.Out / g, m: cfg.In / g}
	// The prototype, in input-sample units: cutoff halfway through the transition band,
	// which runs from Passband to 1 of the lower Nyquist frequency.
	rho := math.Min(1, float64(cfg.Out)/float64(cfg.In)) // the lower rate over the input rate
	fc := (cfg.Passband + 1) / 2 * rho                   // cutoff, in cycles per 2 input samples
	trans := (1 - cfg.Passband) * rho / 2                // transition width, cycles per input sample
	a := cfg.StopbandDB
	length := int(math.Ceil((a-7.95)/(2.285*2*math.Pi*trans))) + 1 // Kaiser's estimate
	r.half = (length + 1) / 2
	r.taps = 2 * r.half
	beta := 0.1102 * (a - 8.7)
	if a < 50 {
		beta = 0.5842*math.Pow(a-21, 0.4) + 0.07886*(a-21)
	}
	i0b := bessI0(beta)
	r.phases = make([][]float32, r.l)
	for p := range r.l {
		h := make([]float32, r.taps)
		frac := float64(p) / float64(r.l)
		for k := range r.taps {
			x := frac - float64(k-r.half+1) // output time less the input sample's time
			w := 0.0
			if u := x / float64(r.half); u > -1 && u < 1 {
				w = bessI0(beta*math.Sqrt(1-u*u)) / i0b
			}
			h[k] = float32(fc * sinc(fc*x) * w)
		}
		r.phases[p] = h
	}
	r.Reset()
	return r, nil
}

// Reset forgets the stream: the next input starts a new one.
func (r *Resampler) Reset() {
	if cap(r.buf) == 0 {
		r.buf = make([]float32, 0, (r.taps+4096)*r.ch)
	}
	r.buf = r.buf[:0]
	for range (r.half - 1) * r.ch {
		r.buf = append(r.buf, 0) // the history before the first sample: silence
	}
	r.pos, r.in, r.out = 0, 0, 0
}

// Latency is how many input frames the Resampler holds before an output frame that
// depends on them can come out (the filter's look-ahead).
func (r *Resampler) Latency() int { return r.half }

// Process takes interleaved input and appends the output it makes to dst.
func (r *Resampler) Process(dst, src []float32) []float32 {
	r.in += int64(len(src) / r.ch)
	return r.process(dst, src)
}

func (r *Resampler) process(dst, src []float32) []float32 {
	r.buf = append(r.buf, src...)
	frames := len(r.buf) / r.ch
	for {
		base := r.pos / r.l // first input frame of this output's window
		if base+r.taps > frames {
			break
		}
		h := r.phases[r.pos%r.l]
		if r.ch == 1 {
			x := r.buf[base : base+r.taps]
			var s float32
			for k, c := range h {
				s += c * x[k]
			}
			dst = append(dst, s)
		} else {
			x := r.buf[2*base : 2*base+2*r.taps]
			var s0, s1 float32
			for k, c := range h {
				s0 += c * x[2*k]
				s1 += c * x[2*k+1]
			}
			dst = append(dst, s0, s1)
		}
		r.out++
		r.pos += r.m
	}
	// Drop the frames no later output needs.
	if drop := r.pos / r.l; drop > 0 {
		n := copy(r.buf, r.buf[drop*r.ch:])
		r.buf = r.buf[:n]
		r.pos -= drop * r.l
	}
	return dst
}

// Flush appends the output the look-ahead still holds, up to where the input ended (the
// input followed by silence), and resets the Resampler.
func (r *Resampler) Flush(dst []float32) []float32 {
	want := (r.in*int64(r.l) + int64(r.m) - 1) / int64(r.m) // outputs timed before the input's end
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
