package aacenc

import (
	"math"
	"math/cmplx"
	"sync"
)

// mdct computes the n/2 coefficients of n windowed samples through a DCT-IV of the
// folded input, computed with an n/4-point complex FFT (512 points for a long block).
// Its tables are shared by every Encoder (read only); its scratch is its own.
type mdct struct {
	*mdctTables
	v      []float64
	zr, zi []float64
}

type mdctTables struct {
	n          int // input length (2048 or 256)
	preR, preI []float64
	posR, posI []float64
	fft        fft
}

var (
	longTables  = sync.OnceValue(func() *mdctTables { return newMDCTTables(2 * FrameSamples) })
	shortTables = sync.OnceValue(func() *mdctTables { return newMDCTTables(256) })
)

func newMDCTTables(n int) *mdctTables {
	m := n / 2
	t := &mdctTables{n: n}
	for k := range m / 2 {
		pre := cmplx.Exp(complex(0, -math.Pi*(4*float64(k)+1)/(4*float64(m))))
		pos := cmplx.Exp(complex(0, -math.Pi*float64(k)/float64(m)))
		t.preR, t.preI = append(t.preR, real(pre)), append(t.preI, imag(pre))
		t.posR, t.posI = append(t.posR, real(pos)), append(t.posI, imag(pos))
	}
	t.fft = newFFT(m / 2)
	return t
}

func newMDCT(n int) *mdct {
	var tb *mdctTables
	switch n {
	case 2 * FrameSamples:
		tb = longTables()
	case 256:
		tb = shortTables()
	default:
		tb = newMDCTTables(n)
	}
	m := n / 2
	return &mdct{mdctTables: tb, v: make([]float64, m), zr: make([]float64, m/2), zi: make([]float64, m/2)}
}

// transform writes the coefficients of x (len n) into out (len n/2):
// out[k] = Σ x[i]·cos(2π/n·(i + 1/2 + n/4)·(k + 1/2)).
func (t *mdct) transform(x, out []float64) {
	q := t.n / 4
	x = x[:t.n]
	v := t.v[:2*q]
	// Fold the four quarters a, b, c, d into (-c_r - d, a - b_r).
	for i := range q {
		v[i] = -x[3*q-1-i] - x[3*q+i]
		v[q+i] = x[i] - x[2*q-1-i]
	}
	t.dct4(out, t.n/2)
}

// transformWindowed is transform of x·w (each len n), the window applied as it folds,
// writing out[:lines] alone (the rest of out is left as it was).
func (t *mdct) transformWindowed(x, w, out []float64, lines int) {
	q := t.n / 4
	x, w = x[:t.n], w[:t.n]
	v := t.v[:2*q]
	for i := range q {
		j, k := 3*q-1-i, 3*q+i
		v[i] = -x[j]*w[j] - x[k]*w[k]
		j, k = i, 2*q-1-i
		v[q+i] = x[j]*w[j] - x[k]*w[k]
	}
	t.dct4(out, lines)
}

// transformSparse is transformWindowed of a signal that is zero but at x's samples:
// x[i] at at + step·i (from the transform's start; those outside it are left out).
func (t *mdct) transformSparse(x []float64, at, step int, w, out []float64, lines int) {
	n, q := t.n, t.n/4
	w = w[:n]
	v := t.v[:2*q]
	clear(v)
	i := 0
	if at < 0 {
		i = (-at + step - 1) / step
	}
	for ; i < len(x); i++ {
		j := at + step*i
		if j >= n {
			break
		}
		y := x[i] * w[j]
		switch {
		case j < q: // a
			v[q+j] += y
		case j < 3*q: // b and c: -b_r, -c_r
			v[3*q-1-j] -= y
		default: // d
			v[j-3*q] -= y
		}
	}
	t.dct4(out, lines)
}

// dct4 writes the DCT-IV of the folded input (v) into out[:lines], through an m/2-point
// complex FFT: z = (v[2k] + i·v[m-1-2k])·pre[k], transformed, times pos[k], which
// gives out[2k] and out[m-1-2k].
func (t *mdct) dct4(out []float64, lines int) {
	m := t.n / 2
	out, v := out[:m], t.v[:m]
	h := m / 2
	zr, zi := t.zr[:h], t.zi[:h]
	preR, preI := t.preR[:h], t.preI[:h]
	for k := range h {
		a, b := v[2*k], v[m-1-2*k]
		zr[k] = a*preR[k] - b*preI[k]
		zi[k] = a*preI[k] + b*preR[k]
	}
	t.fft.transform(zr, zi)
	posR, posI := t.posR[:h], t.posI[:h]
	if lines >= m {
		for k := range h {
			yr := zr[k]*posR[k] - zi[k]*posI[k]
			yi := zr[k]*posI[k] + zi[k]*posR[k]
			out[2*k] = yr
			out[m-1-2*k] = -yi
		}
		return
	}
	for k := 0; 2*k < lines; k++ { // the even lines below lines
		out[2*k] = zr[k]*posR[k] - zi[k]*posI[k]
	}
	for k := max(0, (m-lines+1)/2); k < h; k++ { // the odd ones: m-1-2k < lines
		out[m-1-2*k] = -(zr[k]*posI[k] + zi[k]*posR[k])
	}
}

// fft is an in-place radix-2 complex FFT of a fixed power-of-two size (at least 4),
// on separate real and imaginary parts.
type fft struct {
	n   int
	rev []int32
	// wr, wi hold each pass's twiddles in a row: the pass whose butterflies span half
	// finds its half twiddles at [half, 2·half).
	wr, wi []float64
}

func newFFT(n int) fft {
	f := fft{n: n, rev: make([]int32, n), wr: make([]float64, n), wi: make([]float64, n)}
	for half := 1; half < n; half *= 2 {
		for j := range half {
			w := cmplx.Exp(complex(0, -math.Pi*float64(j)/float64(half)))
			f.wr[half+j], f.wi[half+j] = real(w), imag(w)
		}
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
		f.rev[i] = int32(r)
	}
	return f
}

func (f *fft) transform(re, im []float64) {
	n := f.n
	re, im = re[:n], im[:n]
	for i, r := range f.rev {
		if i < int(r) {
			re[i], re[r] = re[r], re[i]
			im[i], im[r] = im[r], im[i]
		}
	}
	// The first two passes' twiddles are 1 and -i: no multiplications.
	for s := 0; s+4 <= n; s += 4 {
		r, i := re[s:s+4], im[s:s+4]
		ur0, ui0 := r[0]+r[1], i[0]+i[1]
		ur1, ui1 := r[0]-r[1], i[0]-i[1]
		vr0, vi0 := r[2]+r[3], i[2]+i[3]
		vr1, vi1 := i[2]-i[3], r[3]-r[2] // (x2 - x3)·(-i)
		r[0], i[0] = ur0+vr0, ui0+vi0
		r[2], i[2] = ur0-vr0, ui0-vi0
		r[1], i[1] = ur1+vr1, ui1+vi1
		r[3], i[3] = ur1-vr1, ui1-vi1
	}
	half := 4
	// Two passes at a time (spans h and 2h): each point is loaded and stored once for
	// both, with the four multiplications the two passes take.
	for ; 4*half <= n; half *= 4 {
		w1r, w1i := f.wr[half:2*half], f.wi[half:2*half]
		w2r, w2i := f.wr[2*half:3*half], f.wi[2*half:3*half]
		for start := 0; start < n; start += 4 * half {
			ar, ai := re[start:start+half], im[start:start+half]
			br, bi := re[start+half:start+2*half], im[start+half:start+2*half]
			cr, ci := re[start+2*half:start+3*half], im[start+2*half:start+3*half]
			dr, di := re[start+3*half:start+4*half], im[start+3*half:start+4*half]
			ai, br, bi, cr, ci, dr, di = ai[:len(ar)], br[:len(ar)], bi[:len(ar)], cr[:len(ar)], ci[:len(ar)], dr[:len(ar)], di[:len(ar)]
			w1r, w1i, w2r, w2i := w1r[:len(ar)], w1i[:len(ar)], w2r[:len(ar)], w2i[:len(ar)]
			for j := range ar {
				// The first pass: (a, b) and (c, d) with w1.
				xr, xi := br[j]*w1r[j]-bi[j]*w1i[j], br[j]*w1i[j]+bi[j]*w1r[j]
				a1r, a1i := ar[j]+xr, ai[j]+xi
				b1r, b1i := ar[j]-xr, ai[j]-xi
				yr, yi := dr[j]*w1r[j]-di[j]*w1i[j], dr[j]*w1i[j]+di[j]*w1r[j]
				c1r, c1i := cr[j]+yr, ci[j]+yi
				d1r, d1i := cr[j]-yr, ci[j]-yi
				// The second: (a, c) with w2, (b, d) with w2·(-i).
				ur, ui := c1r*w2r[j]-c1i*w2i[j], c1r*w2i[j]+c1i*w2r[j]
				vr, vi := d1r*w2r[j]-d1i*w2i[j], d1r*w2i[j]+d1i*w2r[j]
				vr, vi = vi, -vr
				ar[j], ai[j] = a1r+ur, a1i+ui
				cr[j], ci[j] = a1r-ur, a1i-ui
				br[j], bi[j] = b1r+vr, b1i+vi
				dr[j], di[j] = b1r-vr, b1i-vi
			}
		}
	}
	for ; half < n; half *= 2 { // a last single pass
		wr, wi := f.wr[half:2*half], f.wi[half:2*half]
		for start := 0; start < n; start += 2 * half {
			ar, ai := re[start:start+half], im[start:start+half]
			br, bi := re[start+half:start+2*half], im[start+half:start+2*half]
			ai, br, bi, wr, wi := ai[:len(ar)], br[:len(ar)], bi[:len(ar)], wr[:len(ar)], wi[:len(ar)]
			for j := range ar {
				cr, ci := wr[j], wi[j]
				xr, xi := br[j], bi[j]
				vr := xr*cr - xi*ci
				vi := xr*ci + xi*cr
				ur, ui := ar[j], ai[j]
				ar[j], ai[j] = ur+vr, ui+vi
				br[j], bi[j] = ur-vr, ui-vi
			}
		}
	}
}
