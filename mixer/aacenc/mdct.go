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
	a = a[:f.n]
	for i, r := range f.rev {
		if i < r {
			a[i], a[r] = a[r], a[i]
		}
	}
	// The first two passes' twiddles are 1 and -i: no multiplications.
	for s := 0; s+4 <= f.n; s += 4 {
		x0, x1, x2, x3 := a[s], a[s+1], a[s+2], a[s+3]
		u0, u1 := x0+x1, x0-x1
		v0, v1 := x2+x3, x2-x3
		v1 = complex(imag(v1), -real(v1)) // ·(-i)
		a[s], a[s+2] = u0+v0, u0-v0
		a[s+1], a[s+3] = u1+v1, u1-v1
	}
	for size := 8; size <= f.n; size <<= 1 {
		half, step := size/2, f.n/size
		for j := range half {
			w := f.w[j*step]
			for start := j; start < f.n; start += size {
				u, v := a[start], a[start+half]*w
				a[start], a[start+half] = u+v, u-v
			}
		}
	}
}
