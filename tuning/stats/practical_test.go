package stats

import (
	"math"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	base := []float64{100, 101, 99, 100, 102, 98, 100, 101, 99, 100}
	scale := func(xs []float64, f float64) []float64 {
		out := make([]float64, len(xs))
		for i, x := range xs {
			out[i] = x * f
		}
		return out
	}
	noisy := []float64{60, 140, 80, 125, 95, 150, 70, 110, 55, 130}
	tests := []struct {
		name      string
		base, new []float64
		want      Outcome
		explain   string
	}{
		{"a large, clean change is a finding", base, scale(base, 1.20), Finding, "finding: +20.0%"},
		{"a significant 2% change is no practical difference", base, scale(base, 1.02), NoPracticalDifference, "within ±5%"},
		{"identical tight samples are no practical difference", base, base, NoPracticalDifference, "within ±5%"},
		{"a noisy sample is inconclusive with its MDE", base, noisy, Inconclusive, "no difference larger than"},
		{"three runs are too few", base[:3], base[:3], TooFewRuns, "too few runs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Compare(tt.base, tt.new)
			if got := c.Classify(0); got != tt.want {
				t.Errorf("Classify = %v, want %v (p=%.3f ratio %.3f, MDE %.3f)", got, tt.want, c.AdjustedP, c.Ratio, c.MDE())
			}
			if got := c.Explain(0); !strings.Contains(got, tt.explain) {
				t.Errorf("Explain = %q, want it to contain %q", got, tt.explain)
			}
		})
	}
}

func TestMDEIsTheIntervalsReach(t *testing.T) {
	c := Comparison{Ratio: 1.01, RatioLo: 0.93, RatioHi: 1.12}
	if got := c.MDE(); math.Abs(got-0.12) > 1e-9 {
		t.Errorf("MDE = %v, want 0.12 (the farther end of 0.93..1.12)", got)
	}
	if got := (Comparison{Ratio: math.NaN(), RatioLo: math.NaN(), RatioHi: math.NaN()}).MDE(); !math.IsInf(got, 1) {
		t.Errorf("MDE without an interval = %v, want +Inf", got)
	}
}

func TestHalfWidth(t *testing.T) {
	s := Summarize([]float64{10, 11, 9, 10, 10, 11, 9, 10})
	if hw := s.HalfWidth(); hw <= 0 || hw > 0.2 {
		t.Errorf("HalfWidth = %v, want a small positive fraction", hw)
	}
	if hw := Summarize([]float64{1, 2, 3}).HalfWidth(); !math.IsInf(hw, 1) {
		t.Errorf("HalfWidth of 3 samples = %v, want +Inf (no interval below 6)", hw)
	}
}

func TestPracticalIsSymmetricAndStrictAtTheThreshold(t *testing.T) {
	for _, tt := range []struct {
		ratio, threshold float64
		want             bool
	}{
		{0.5, 1, false}, // one log2 bucket down: not practical at a factor-2 threshold
		{2, 1, false},   // one bucket up
		{0.49, 1, true},
		{2.1, 1, true},
		{1.06, 0.05, true},
		{0.94, 0.05, true},
		{1.04, 0.05, false},
		{1.0000, 0.05, false},
		{math.NaN(), 0.05, false},
	} {
		if got := Practical(tt.ratio, tt.threshold); got != tt.want {
			t.Errorf("Practical(%v, %v) = %v, want %v", tt.ratio, tt.threshold, got, tt.want)
		}
	}
}

func TestUndetectableStatesTheMDEAndN(t *testing.T) {
	c := Comparison{Base: Summary{N: 6}, New: Summary{N: 7}, Ratio: 1.01, RatioLo: 0.83, RatioHi: 1.12}
	if got, want := c.Undetectable(), "no difference larger than ±17% was detectable at n=6+7"; got != want {
		t.Errorf("Undetectable = %q, want %q", got, want)
	}
	six := Summary{N: 6}
	if got := (Comparison{Base: six, New: six, Ratio: 1, RatioLo: 0.9, RatioHi: 1.2}).HalfWidth(); math.Abs(got-0.15) > 1e-9 {
		t.Errorf("HalfWidth = %v, want 0.15", got)
	}
	if got := (Comparison{Base: Summary{N: 1}, New: Summary{N: 1}, Ratio: 1, RatioLo: 1, RatioHi: 1}).HalfWidth(); !math.IsInf(got, 1) {
		t.Errorf("HalfWidth of one run a side = %v, want +Inf: a bootstrap of one value has no spread", got)
	}
}
