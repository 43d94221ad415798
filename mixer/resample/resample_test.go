package resample_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sipcast/sipcast/mixer/resample"
)

// tone is a sine of amplitude 0.5 at f Hz, n frames at rate.
func tone(f float64, rate, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(0.5 * math.Sin(2*math.Pi*f*float64(i)/float64(rate)))
	}
	return x
}

// fit returns the amplitude of the sine at f in y (least squares, with its cosine) and
// the RMS of what is left: everything that is not that tone.
func fit(y []float32, f float64, rate int) (amp, residual float64) {
	var ss, cc, sc, ys, yc float64
	for i, v := range y {
		w := 2 * math.Pi * f * float64(i) / float64(rate)
		s, c := math.Sin(w), math.Cos(w)
		ss, cc, sc, ys, yc = ss+s*s, cc+c*c, sc+s*c, ys+float64(v)*s, yc+float64(v)*c
	}
	det := ss*cc - sc*sc
	a, b := (ys*cc-yc*sc)/det, (yc*ss-ys*sc)/det
	var r float64
	for i, v := range y {
		w := 2 * math.Pi * f * float64(i) / float64(rate)
		d := float64(v) - a*math.Sin(w) - b*math.Cos(w)
		r += d * d
	}
	return math.Hypot(a, b), math.Sqrt(r / float64(len(y)))
}

func run(t testing.TB, r *resample.Resampler, x []float32) []float32 {
	var y []float32
	for len(x) > 0 { // in 20 ms-ish blocks of varying size, as a call's audio comes
		n := min(len(x), 160+len(x)%97)
		y = r.Process(y, x[:n])
		x = x[n:]
	}
	return r.Flush(y)
}

// With sweeps of tones, for every pair of rates: the passband (to 90 % of the lower
// Nyquist frequency) is flat within 0.1 dB, and what is not the tone (images when
// upsampling, aliases when downsampling) is at least 80 dB below it; tones beyond the
// lower Nyquist frequency come out at least 80 dB down. The figures are logged.
//
// Relaxed, the stopband starts at 1.1 times that Nyquist frequency.
func TestSweepQuality(t *testing.T) {
	for _, relaxed := range []bool{false, true} {
		t.Run(fmt.Sprintf("relaxed=%v", relaxed), func(t *testing.T) { sweep(t, relaxed) })
	}
}

func sweep(t *testing.T, relaxed bool) {
	for _, in := range resample.Rates {
		for _, out := range resample.Rates {
			if in == out {
				continue
			}
			r, err := resample.New(resample.Config{In: in, Out: out, Channels: 1, Relaxed: relaxed})
			require.NoError(t, err)
			nyq := float64(min(in, out)) / 2
			n := in / 2 // half a second
			worstRipple, worstSpur, worstStop := 0.0, math.Inf(1), math.Inf(1)
			for _, frac := range []float64{0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9} {
				f := frac * nyq
				y := run(t, r, tone(f, in, n))
				require.InDelta(t, n*out/in, len(y), 1, "%d→%d: output length", in, out)
				edge := r.Latency()*out/in + 8
				amp, res := fit(y[edge:len(y)-edge], f, out)
				worstRipple = math.Max(worstRipple, math.Abs(20*math.Log10(amp/0.5)))
				worstSpur = math.Min(worstSpur, 20*math.Log10(amp/math.Sqrt2/res))
			}
			if in > out { // downsampling: what lies beyond the output's Nyquist frequency
				from := 1.02 * nyq
				if relaxed {
					from = 1.1 * nyq
				}
				for f := from; f < 0.98*float64(in)/2; f += 0.07 * nyq {
					y := run(t, r, tone(f, in, n))
					edge := r.Latency()*out/in + 8
					var e float64
					for _, v := range y[edge : len(y)-edge] {
						e += float64(v) * float64(v)
					}
					rms := math.Sqrt(e/float64(len(y)-2*edge)) + 1e-12
					worstStop = math.Min(worstStop, 20*math.Log10(0.5/math.Sqrt2/rms))
				}
			}
			stop := "(upsampling)"
			if in > out && !math.IsInf(worstStop, 1) {
				stop = fmt.Sprintf("%.1f dB", worstStop)
			} else if in > out {
				stop = "(no tone between it and the input's Nyquist frequency)"
			}
			t.Logf("%5d → %5d Hz: %5.1f multiply-adds per sample; passband ripple %.4f dB; spurious %.1f dB below the tone; stopband %s",
				in, out, r.MultiplyAdds(), worstRipple, worstSpur, stop)
			require.Less(t, worstRipple, 0.1, "%d→%d ripple", in, out)
			require.Greater(t, worstSpur, 80.0, "%d→%d spurious", in, out)
			if in > out && !math.IsInf(worstStop, 1) {
				require.Greater(t, worstStop, 80.0, "%d→%d stopband", in, out)
			}
		}
	}
}

// Stereo channels stay apart, and the way the input is cut into blocks does not change
// the output.
func TestStereoAndBlocks(t *testing.T) {
	r, err := resample.New(resample.Config{In: 8000, Out: 48000, Channels: 2})
	require.NoError(t, err)
	left := tone(440, 8000, 4000)
	x := make([]float32, 0, 8000)
	for _, v := range left {
		x = append(x, v, 0) // the right channel silent
	}
	y := run(t, r, x)
	whole := r.Flush(r.Process(nil, x))
	require.Equal(t, whole, y, "blocks do not matter")
	var l, rr []float32
	for i := 0; i+1 < len(y); i += 2 {
		l, rr = append(l, y[i]), append(rr, y[i+1])
	}
	amp, _ := fit(l[300:len(l)-300], 440, 48000)
	require.InDelta(t, 0.5, amp, 0.01)
	for _, v := range rr {
		require.Zero(t, v, "nothing leaks into the silent channel")
	}
}

// 20 ms through a Resampler that has run allocates nothing.
func TestNoAllocation(t *testing.T) {
	r, err := resample.New(resample.Config{In: 8000, Out: 48000, Channels: 1})
	require.NoError(t, err)
	x := tone(440, 8000, 160)
	y := make([]float32, 0, 2000)
	for range 10 {
		y = r.Process(y[:0], x)
	}
	require.Zero(t, testing.AllocsPerRun(100, func() { y = r.Process(y[:0], x) }))
}

func TestConfigRefused(t *testing.T) {
	for _, c := range []resample.Config{{In: 11025, Out: 48000, Channels: 1}, {In: 8000, Out: 48000, Channels: 3},
		{In: 8000, Out: 48000, Channels: 1, Passband: 1.2}} {
		_, err := resample.New(c)
		require.Error(t, err, "%+v", c)
	}
}

// Any input, cut anywhere, for any pair of rates: no panic, the output's length follows
// the rates, and it is finite.
func FuzzResample(f *testing.F) {
	f.Add(uint8(0), uint8(4), uint16(160), []byte{1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, a, b uint8, cut uint16, data []byte) {
		in, out := resample.Rates[int(a)%5], resample.Rates[int(b)%5]
		r := fuzzResampler(t, in, out) // built once per pair: the filters cost more than a run
		r.Reset()
		x := make([]float32, len(data))
		rng := rand.New(rand.NewPCG(uint64(len(data)), 1))
		for i, d := range data {
			x[i] = float32(int8(d))/128 + float32(rng.NormFloat64()*1e-3)
		}
		c := int(cut) % (len(x) + 1)
		y := r.Process(nil, x[:c])
		y = r.Process(y, x[c:])
		y = r.Flush(y)
		want := (int64(len(x))*int64(out) + int64(in) - 1) / int64(in)
		require.EqualValues(t, want, len(y), fmt.Sprintf("%d→%d", in, out))
		for _, v := range y {
			require.False(t, math.IsNaN(float64(v)) || math.IsInf(float64(v), 0))
		}
	})
}

var fuzzResamplers sync.Map // [2]int → *resample.Resampler

func fuzzResampler(t *testing.T, in, out int) *resample.Resampler {
	if r, ok := fuzzResamplers.Load([2]int{in, out}); ok {
		return r.(*resample.Resampler)
	}
	r, err := resample.New(resample.Config{In: in, Out: out, Channels: 1})
	require.NoError(t, err)
	fuzzResamplers.Store([2]int{in, out}, r)
	return r
}
