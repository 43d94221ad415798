package aacenc

import (
	"math"
	"math/cmplx"
)

// mdct computes the 1024 coefficients of 2048 windowed samples through a DCT-IV of
// the folded input, computed with a 256-point complex FFT.
type mdct struct {
	n        int // input length (2048)
	pre, pos []complex128
	fft      fft
	v        []float64
	z        []complex128
}

func newMDCT(n int) *mdct {
	m := n / 2
	t := &mdct{n: n, pre: make([]complex128, m/2), pos: make([]complex128, m/2), v: make([]float64, m), z: make([]complex128, m/2)}
	for k := range m / 2 {
		t.pre[k] = cmplx.Exp(complex(0, -math.Pi*(4*float64(k)+1)/(4*float64(m))))
		t.pos[k] = cmplx.Exp(complex(0, -math.Pi*float64(k)/float64(m)))
	}
	t.fft = newFFT(m / 2)
	return t
}

// transform writes the coefficients of x (len n) into out (len n/2):
// out[k] = Σ x[i]·cos(2π/n·(i + 1/2 + n/4)·(k + 1/2)).
func (t *mdct) transform(x, out []float64) {
	m, q := t.n/2, t.n/4
	// Fold the four quarters a, b, c, d into (-c_r - d, a - b_r).
	for i := range q {
		t.v[i] = -x[3*q-1-i] - x[3*q+i]
		t.v[q+i] = x[i] - x[2*q-1-i]
	}
	// DCT-IV of v through an m/2-point complex FFT.
	for k := range m / 2 {
		t.z[k] = complex(t.v[2*k], t.v[m-1-2*k]) * t.pre[k]
	}
	t.fft.transform(t.z)
	for k := range m / 2 {
		y := t.z[k] * t.pos[k]
		out[2*k] = real(y)
		out[m-1-2*k] = -imag(y)
	}
}

// fft is an in-place radix-2 complex FFT of a fixed power-of-two size.
type fft struct {
	n   int
	w   []complex128
	rev []int
}

func newFFT(n int) fft {
	f := fft{n: n, w: make([]complex128, n/2), rev: make([]int, n)}
	for i := range n / 2 {
		f.w[i] = cmplx.Exp(complex(0, -2*math.Pi*float64(i)/float64(n)))
	}
	bits := 0
	for 1<<bits < n {
		bits++
	}
	for i := range n {
		r := 0
		for b := range bits {
			if i&(1<<b) != 0 {
				r |= 1 << (bits - 1 - b)
			}
		}
		f.rev[i] = r
	}
	return f
}

func (f *fft) transform(a []complex128) {
	for i, r := range f.rev {
		if i < r {
			a[i], a[r] = a[r], a[i]
		}
	}
	for size := 2; size <= f.n; size <<= 1 {
		half, step := size/2, f.n/size
		for start := 0; start < f.n; start += size {
			for j := range half {
				w := f.w[j*step]
				u, v := a[start+j], a[start+j+half]*w
				a[start+j], a[start+j+half] = u+v, u-v
			}
		}
	}
}
