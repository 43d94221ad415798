package aacenc

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// The FFT-based MDCT equals the definition.
func TestMDCTMatchesDefinition(t *testing.T) {
	const n = 2048
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, n)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	got := make([]float64, n/2)
	newMDCT(n).transform(x, got)
	for k := 0; k < n/2; k += 37 {
		var want float64
		for i := range n {
			want += x[i] * math.Cos(2*math.Pi/n*(float64(i)+0.5+n/4)*(float64(k)+0.5))
		}
		require.InDelta(t, want, got[k], 1e-6*math.Max(1, math.Abs(want)), "k=%d", k)
	}
}

func BenchmarkMDCTLong(b *testing.B) {
	m := newMDCT(2048)
	x := make([]float64, 2048)
	for i := range x {
		x[i] = float64(i%17) - 8
	}
	out := make([]float64, 1024)
	for b.Loop() {
		m.transform(x, out)
	}
}

// Asked for the first lines only, the transform writes those, equal to the full
// transform's, and leaves the rest alone.
func TestMDCTFirstLines(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{2048, 256} {
		x, w := make([]float64, n), make([]float64, n)
		for i := range x {
			x[i], w[i] = rng.NormFloat64(), 1
		}
		full := make([]float64, n/2)
		newMDCT(n).transform(x, full)
		for _, lines := range []int{1, 2, 21, 170, 171, n/2 - 1} {
			got := make([]float64, n/2)
			for i := range got {
				got[i] = 42
			}
			newMDCT(n).transformWindowed(x, w, got, lines)
			for i := range got {
				if i < lines {
					require.InDelta(t, full[i], got[i], 1e-9, "n %d lines %d: line %d", n, lines, i)
				} else {
					require.Equal(t, 42.0, got[i], "n %d lines %d: line %d untouched", n, lines, i)
				}
			}
		}
	}
}

// The sparse transform (samples every step, from at) equals the windowed transform of
// the signal with zeros between them, those before the start and beyond the end left
// out.
func TestMDCTSparse(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{2048, 256} {
		w := make([]float64, n)
		for i := range w {
			w[i] = math.Sin(math.Pi * (float64(i) + 0.5) / float64(n))
		}
		for _, c := range []struct{ at, step int }{{0, 6}, {2, 6}, {-4, 6}, {-700, 3}, {5, 3}, {n - 1, 6}} {
			x := make([]float64, n/c.step+300)
			for i := range x {
				x[i] = rng.NormFloat64()
			}
			dense := make([]float64, n)
			for i, v := range x {
				if j := c.at + c.step*i; j >= 0 && j < n {
					dense[j] = v
				}
			}
			want, got := make([]float64, n/2), make([]float64, n/2)
			m := newMDCT(n)
			m.transformWindowed(dense, w, want, n/2)
			m.transformSparse(x, c.at, c.step, w, got, n/2)
			for k := range want {
				require.InDelta(t, want[k], got[k], 1e-9, "n %d at %d step %d: line %d", n, c.at, c.step, k)
			}
		}
	}
}

// bandBits2's loops for each codebook pair count what bandBits counts for each book of
// the pair, on random bands within the pair's range; escBits counts what bandBits counts
// for the escape book, escapes included.
func TestBandBits2MatchesBandBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 16))
	for _, cb := range []uint8{1, 3, 5, 7, 9} {
		lav := books[cb].lav
		for range 2000 {
			q := make([]int32, 4*(1+rng.IntN(8)))
			for i := range q {
				q[i] = rng.Int32N(2*lav+1) - lav
				if rng.IntN(3) == 0 {
					q[i] = 0
				}
			}
			a, b := bandBits2(q, cb)
			if wa, wb := bandBits(q, cb), bandBits(q, cb+1); a != wa || b != wb {
				t.Fatalf("codebooks %d/%d of %v: %d/%d bits, bandBits says %d/%d", cb, cb+1, q, a, b, wa, wb)
			}
		}
	}
	for range 2000 { // the escape book, values up to the 13 bits a quantized value has
		q := make([]int32, 2*(1+rng.IntN(16)))
		for i := range q {
			q[i] = rng.Int32N(17) - 8
			if rng.IntN(4) == 0 {
				q[i] = rng.Int32N(2*8191+1) - 8191
			}
		}
		if got, want := escBits(q), bandBits(q, 11); got != want {
			t.Fatalf("codebook 11 of %v: %d bits, bandBits says %d", q, got, want)
		}
	}
}
