package stats

import (
	"math"
	"math/rand/v2"
	"slices"
)

// PairedRatio summarises an interleaved comparison in which new[i] and
// base[i] were measured in the same round: the median of the per-round
// ratios new[i]/base[i] with its 95% bootstrap interval (BootstrapPairedRatio,
// seeded from the data) and the ratios' range. Pairs with a base of 0 are
// left out.
type PairedRatio struct {
	Ratio, Lo, Hi float64 // median of the ratios and its 95% interval
	Min, Max      float64 // range of the ratios
	N             int     // pairs used
}

// Paired computes PairedRatio for base and new, which must have one value per
// round each (it uses the first min(len) pairs).
func Paired(base, new []float64) PairedRatio {
	ratios := pairRatios(base, new)
	out := PairedRatio{N: len(ratios), Ratio: math.NaN(), Lo: math.NaN(), Hi: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	if len(ratios) == 0 {
		return out
	}
	out.Min, out.Max = slices.Min(ratios), slices.Max(ratios)
	out.Ratio, out.Lo, out.Hi = bootstrapMedian(ratios, BootstrapIterations, seedOf(base, new), Confidence)
	return out
}

// BootstrapPairedRatio returns the median of the per-pair ratios
// new[i]/base[i] and its percentile-bootstrap confidence interval, resampling
// whole pairs with replacement: a round that was slow for both sides stays
// one round, so the machine's drift between rounds does not widen the
// interval the way BootstrapRatio's independent resampling does.
func BootstrapPairedRatio(base, new []float64, iterations int, seed uint64, confidence float64) (ratio, lo, hi float64) {
	return bootstrapMedian(pairRatios(base, new), iterations, seed, confidence)
}

func pairRatios(base, new []float64) []float64 {
	n := min(len(base), len(new))
	ratios := make([]float64, 0, n)
	for i := range n {
		if base[i] != 0 && !math.IsNaN(base[i]) && !math.IsNaN(new[i]) {
			ratios = append(ratios, new[i]/base[i])
		}
	}
	return ratios
}

// bootstrapMedian is xs's median and its percentile-bootstrap interval.
func bootstrapMedian(xs []float64, iterations int, seed uint64, confidence float64) (m, lo, hi float64) {
	nan := math.NaN()
	if len(xs) == 0 {
		return nan, nan, nan
	}
	m = median(slices.Clone(xs))
	if iterations < 1 {
		return m, nan, nan
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	r := make([]float64, len(xs))
	meds := make([]float64, iterations)
	for it := range iterations {
		for i := range r {
			r[i] = xs[rng.IntN(len(xs))]
		}
		meds[it] = median(r)
	}
	slices.Sort(meds)
	tail := (1 - confidence) / 2
	return m, quantile(meds, tail), quantile(meds, 1-tail)
}
