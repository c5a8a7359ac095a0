package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestPairedRatioFollowsThePairs(t *testing.T) {
	// Rounds drift by a factor of up to 3 (a shared, busy machine), while new
	// is always 0.5x base in its own round: the paired ratio is exactly 0.5
	// with no spread, where the unpaired bootstrap of the medians is wide.
	base := []float64{100, 300, 150, 250, 120, 280, 200}
	new := make([]float64, len(base))
	for i, b := range base {
		new[i] = b / 2
	}
	p := Paired(base, new)
	if p.Ratio != 0.5 || p.Lo != 0.5 || p.Hi != 0.5 || p.Min != 0.5 || p.Max != 0.5 || p.N != 7 {
		t.Errorf("Paired = %+v, want every field 0.5 over 7 pairs", p)
	}
	_, lo, hi := BootstrapRatio(base, new, BootstrapIterations, 1, Confidence)
	if hi-lo < 0.2 {
		t.Errorf("unpaired interval [%v, %v] is narrow: the test's drift does not exercise pairing", lo, hi)
	}
}

func TestPairedRatioCoversTheTrueRatio(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	covered := 0
	const trials = 200
	for trial := range trials {
		var base, new []float64
		for range 10 {
			drift := 1 + 2*rng.Float64()
			base = append(base, 100*drift*(1+0.05*rng.NormFloat64()))
			new = append(new, 80*drift*(1+0.05*rng.NormFloat64()))
		}
		_, lo, hi := BootstrapPairedRatio(base, new, 1000, uint64(trial), Confidence)
		if lo <= 0.8 && 0.8 <= hi {
			covered++
		}
	}
	// A percentile bootstrap of a median of 10 undercovers somewhat; it
	// must still hold the true ratio most of the time.
	if covered < trials*80/100 {
		t.Errorf("interval held the true ratio in %d of %d trials, want at least 80%%", covered, trials)
	}
}

func TestPairedRatioSkipsZeroBases(t *testing.T) {
	p := Paired([]float64{0, 2, 4}, []float64{1, 1, 1})
	if p.N != 2 || p.Ratio != 0.375 {
		t.Errorf("Paired = %+v, want 2 pairs with median ratio 0.375", p)
	}
	if p := Paired(nil, nil); p.N != 0 || !math.IsNaN(p.Ratio) {
		t.Errorf("Paired of nothing = %+v, want NaN over 0 pairs", p)
	}
}
