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
