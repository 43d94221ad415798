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
