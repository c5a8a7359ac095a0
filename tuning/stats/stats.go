package stats

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"golang.org/x/perf/benchmath"
)

// Confidence is the confidence level of every interval (benchstat's).
const Confidence = 0.95

// Alpha is the significance level of every test (benchstat's).
const Alpha = 0.05

var thresholds = &benchmath.Thresholds{CompareAlpha: Alpha}

// Summary is a sample's median with its confidence interval.
type Summary struct {
	// Center is the median.
	Center float64
	// Lo and Hi bound the median's confidence interval; they are infinite
	// when the sample is too small for one (fewer than 6 at 95%).
	Lo, Hi float64
	// N is the sample size.
	N int
	// Warnings explain missing intervals ("need >= 6 samples ...").
	Warnings []string
}

// Summarize returns the median of values and its 95% confidence interval
// (benchmath.AssumeNothing, as benchstat). values is not modified.
func Summarize(values []float64) Summary {
	if len(values) == 0 {
		return Summary{Center: math.NaN(), Lo: math.Inf(-1), Hi: math.Inf(1)}
	}
	s := benchmath.AssumeNothing.Summary(benchmath.NewSample(slices.Clone(values), thresholds), Confidence)
	return Summary{Center: s.Center, Lo: s.Lo, Hi: s.Hi, N: len(values), Warnings: errStrings(s.Warnings)}
}

// PctRange is the interval's half-width relative to the median, as
// benchstat prints after "±": "2%", "∞" without an interval, "?" when the
// interval crosses zero.
func (s Summary) PctRange() string {
	return benchmath.Summary{Center: s.Center, Lo: s.Lo, Hi: s.Hi}.PctRangeString()
}

// Comparison is the result of comparing a sample with a reference.
type Comparison struct {
	// Base and New summarise the two samples.
	Base, New Summary
	// P is the Mann-Whitney U test's two-sided p-value.
	P float64
	// AdjustedP is P after a multiple-comparison correction (Holm); equal
	// to P until one is applied.
	AdjustedP float64
	// Significant says AdjustedP <= Alpha.
	Significant bool
	// Ratio is New's median over Base's; RatioLo and RatioHi are its 95%
	// bootstrap confidence interval.
	Ratio, RatioLo, RatioHi float64
	// Warnings explain why a difference could not be detected ("need >= 4
	// samples to detect a difference at alpha level 0.05").
	Warnings []string
}

// BootstrapIterations is how many resamples BootstrapRatio draws.
const BootstrapIterations = 2000

// Compare compares new with base: medians, the Mann-Whitney U test and a
// bootstrap interval for the ratio of medians. The bootstrap is seeded from
// the data, so the same samples always give the same interval.
func Compare(base, new []float64) Comparison {
	bs := benchmath.NewSample(slices.Clone(base), thresholds)
	ns := benchmath.NewSample(slices.Clone(new), thresholds)
	c := benchmath.AssumeNothing.Compare(bs, ns)
	out := Comparison{
		Base:      Summarize(base),
		New:       Summarize(new),
		P:         c.P,
		AdjustedP: c.P,
		Warnings:  errStrings(c.Warnings),
	}
	out.Significant = out.P <= Alpha
	out.Ratio, out.RatioLo, out.RatioHi = BootstrapRatio(base, new, BootstrapIterations, seedOf(base, new), Confidence)
	return out
}

// Delta is benchstat's delta column: "~" when not significant, else the
// change of the median in percent ("-4.58%").
func (c Comparison) Delta() string {
	return benchmath.Comparison{P: c.AdjustedP, Alpha: Alpha}.FormatDelta(c.Base.Center, c.New.Center)
}

// PString is "p=0.001 n=7" (or "n=5+6"), as benchstat prints it.
func (c Comparison) PString() string {
	return benchmath.Comparison{P: c.AdjustedP, N1: c.Base.N, N2: c.New.N}.String()
}

// RatioCI is the bootstrap interval as percent changes: "-6.1% to -3.0%".
func (c Comparison) RatioCI() string {
	if math.IsNaN(c.RatioLo) || math.IsNaN(c.RatioHi) {
		return "no interval"
	}
	return fmt.Sprintf("%+.1f%% to %+.1f%%", 100*(c.RatioLo-1), 100*(c.RatioHi-1))
}

// BootstrapRatio returns the ratio of the medians of new and base and its
// percentile-bootstrap confidence interval: both samples are resampled with
// replacement iterations times and the ratio of their medians recorded. It
// returns NaNs when a sample is empty or base's median is 0.
func BootstrapRatio(base, new []float64, iterations int, seed uint64, confidence float64) (ratio, lo, hi float64) {
	nan := math.NaN()
	if len(base) == 0 || len(new) == 0 || iterations < 1 {
		return nan, nan, nan
	}
	mb := median(slices.Clone(base))
	if mb == 0 {
		return nan, nan, nan
	}
	ratio = median(slices.Clone(new)) / mb
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	rb := make([]float64, len(base))
	rn := make([]float64, len(new))
	ratios := make([]float64, 0, iterations)
	for range iterations {
		for i := range rb {
			rb[i] = base[rng.IntN(len(base))]
		}
		for i := range rn {
			rn[i] = new[rng.IntN(len(new))]
		}
		if d := median(rb); d != 0 {
			ratios = append(ratios, median(rn)/d)
		}
	}
	if len(ratios) == 0 {
		return ratio, nan, nan
	}
	slices.Sort(ratios)
	tail := (1 - confidence) / 2
	return ratio, quantile(ratios, tail), quantile(ratios, 1-tail)
}

// Median returns the median of xs (0 for none), leaving xs as it is.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return median(slices.Clone(xs))
}

// median sorts xs in place and returns its median.
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// quantile of sorted xs, linear interpolation between order statistics
// (Hyndman & Fan type 7, R's default).
func quantile(xs []float64, q float64) float64 {
	pos := q * float64(len(xs)-1)
	i := int(math.Floor(pos))
	if i+1 >= len(xs) {
		return xs[len(xs)-1]
	}
	f := pos - float64(i)
	return xs[i]*(1-f) + xs[i+1]*f
}

// seedOf derives a bootstrap seed from the samples (FNV-1a over their bits).
func seedOf(a, b []float64) uint64 {
	h := uint64(14695981039346656037)
	for _, xs := range [][]float64{a, b} {
		for _, x := range xs {
			h ^= math.Float64bits(x)
			h *= 1099511628211
		}
		h ^= 0xff
		h *= 1099511628211
	}
	return h
}

// Holm applies Holm's step-down correction to a family of comparisons: with
// the m p-values sorted ascending, the i-th (from 0) is multiplied by m-i,
// and the adjusted values are made monotone (each at least the previous)
// and capped at 1. It sets AdjustedP and Significant (AdjustedP <= Alpha).
func Holm(cs []*Comparison) {
	m := len(cs)
	order := make([]int, m)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(cs[a].P, cs[b].P) })
	running := 0.0
	for rank, i := range order {
		adj := math.Min(1, float64(m-rank)*cs[i].P)
		running = math.Max(running, adj)
		cs[i].AdjustedP = running
		cs[i].Significant = running <= Alpha
	}
}

func errStrings(errs []error) []string {
	var s []string
	for _, e := range errs {
		s = append(s, e.Error())
	}
	return s
}
