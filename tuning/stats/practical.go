package stats

import (
	"fmt"
	"math"
)

// DefaultPracticalThreshold is the smallest relative change of a median
// that the lab reports as a finding (5%), unless a metric sets its own.
// Smaller changes can be statistically significant on long runs and still
// be of no use to an operator choosing a setting.
const DefaultPracticalThreshold = 0.05

// Outcome classifies a comparison for the guideline.
type Outcome int

const (
	// TooFewRuns: a sample is too small for a test or an interval.
	TooFewRuns Outcome = iota
	// Inconclusive: not significant, and the interval of the change still
	// allows a change larger than the practical threshold. Keep what you
	// have; MDE says how large a change the run could have seen.
	Inconclusive
	// NoPracticalDifference: the interval of the change lies within the
	// practical threshold, or the change is significant but smaller than
	// the threshold.
	NoPracticalDifference
	// Finding: significant (after the correction) and at least the
	// practical threshold in size.
	Finding
)

func (o Outcome) String() string {
	switch o {
	case TooFewRuns:
		return "too few runs"
	case Inconclusive:
		return "inconclusive"
	case NoPracticalDifference:
		return "no practical difference"
	case Finding:
		return "finding"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Change is the relative change of the medians, New/Base - 1 (NaN when the
// ratio is undefined).
func (c Comparison) Change() float64 { return c.Ratio - 1 }

// MDE is the minimal detectable effect of this comparison at its sample
// sizes: the largest relative change (as a fraction) that the 95% bootstrap
// interval of the ratio of medians still allows. A comparison that is not
// significant rules out changes larger than this, so "not significant" can
// be stated as "no difference larger than ±MDE was detectable". +Inf when
// there is no interval.
func (c Comparison) MDE() float64 {
	if math.IsNaN(c.RatioLo) || math.IsNaN(c.RatioHi) {
		return math.Inf(1)
	}
	return math.Max(math.Abs(c.RatioLo-1), math.Abs(c.RatioHi-1))
}

// Classify sorts c into an Outcome for a practical threshold (a fraction,
// e.g. 0.05; <= 0 means DefaultPracticalThreshold). Significance is read
// from c.Significant, so apply Holm first when c is one of a family.
func (c Comparison) Classify(threshold float64) Outcome {
	if threshold <= 0 {
		threshold = DefaultPracticalThreshold
	}
	if c.Base.N < 4 || c.New.N < 4 || math.IsNaN(c.Ratio) {
		// benchmath's Mann-Whitney test needs 4 per side at alpha 0.05.
		return TooFewRuns
	}
	switch {
	case c.Significant && Practical(c.Ratio, threshold):
		return Finding
	case c.Significant:
		return NoPracticalDifference
	case c.MDE() < threshold:
		// Not significant, and the interval excludes every change the
		// threshold calls practical: an equivalence, not a shrug.
		return NoPracticalDifference
	default:
		return Inconclusive
	}
}

// Practical says whether a ratio of medians is a change larger than
// threshold in either direction, measured on the log scale so that a
// halving and a doubling count alike: with threshold 1 (a factor of 2),
// neither 0.5 nor 2 is practical, which keeps a median that moved by one
// bucket of a log2 histogram (the kernel probes' fsync latency) from
// reading as a finding. For 5% the bounds are -4.8% and +5%.
func Practical(ratio, threshold float64) bool {
	if math.IsNaN(ratio) || ratio <= 0 {
		return false
	}
	// The epsilon keeps a ratio that is exactly 1+threshold (a bucket
	// edge against the next) on the not-practical side despite rounding.
	return math.Abs(math.Log(ratio)) > math.Log1p(threshold)+1e-9
}

// Explain is one sentence for a table cell or the guide, e.g. "finding:
// -12.3% (-15.0% to -9.1%)", "no practical difference: +1.2%, within ±5%",
// "inconclusive — keep what you have: no difference larger than ±18% was
// detectable at n=6+6".
func (c Comparison) Explain(threshold float64) string {
	if threshold <= 0 {
		threshold = DefaultPracticalThreshold
	}
	switch c.Classify(threshold) {
	case Finding:
		return fmt.Sprintf("finding: %+.1f%% (%s)", 100*c.Change(), c.RatioCI())
	case NoPracticalDifference:
		return fmt.Sprintf("no practical difference: %+.1f%% (%s), within ±%.0f%%", 100*c.Change(), c.RatioCI(), 100*threshold)
	case Inconclusive:
		return "inconclusive — keep what you have: " + c.Undetectable()
	}
	return fmt.Sprintf("too few runs (n=%d+%d; need 4 per side)", c.Base.N, c.New.N)
}

// HalfWidth is the 95% interval's half-width relative to the median, as a
// fraction (+Inf without an interval). The lab's sequential rule stops a
// comparison once every cell's HalfWidth is below its target.
func (s Summary) HalfWidth() float64 {
	if s.N == 0 || math.IsInf(s.Lo, 0) || math.IsInf(s.Hi, 0) || s.Center == 0 {
		return math.Inf(1)
	}
	return (s.Hi - s.Lo) / 2 / math.Abs(s.Center)
}

// Undetectable states the MDE of a comparison that found nothing: "no
// difference larger than ±18% was detectable at n=6+6" (or why there is
// no interval at all).
func (c Comparison) Undetectable() string {
	mde := c.MDE()
	if math.IsInf(mde, 1) {
		return fmt.Sprintf("no interval of the change at n=%d+%d, so no size of difference can be ruled out", c.Base.N, c.New.N)
	}
	return fmt.Sprintf("no difference larger than ±%.0f%% was detectable at n=%d+%d", math.Ceil(100*mde-1e-9), c.Base.N, c.New.N)
}

// HalfWidth is the 95% bootstrap interval of the ratio of medians, as a
// half-width relative to the ratio ((hi-lo)/2/ratio; +Inf without an
// interval, or with fewer than 6 values a side: a bootstrap of one or two
// values has a zero-width interval that says nothing). The lab's
// sequential rule stops once every comparison's HalfWidth is below its
// target.
func (c Comparison) HalfWidth() float64 {
	if c.Base.N < minInterval || c.New.N < minInterval || math.IsNaN(c.RatioLo) || math.IsNaN(c.RatioHi) || math.IsNaN(c.Ratio) || c.Ratio == 0 {
		return math.Inf(1)
	}
	return (c.RatioHi - c.RatioLo) / 2 / c.Ratio
}

// minInterval is the fewest values with which benchmath gives a 95%
// interval of a median (Summary.Lo/Hi are infinite below it).
const minInterval = 6
