package loadgen

import (
	"math"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range: latencies are recorded in microseconds from 1 µs to one
// hour with 3 significant digits (0.1% relative error), the usual HdrHistogram
// setting for latency. Values outside the range are clamped, never dropped.
const (
	histMinUs   = 1
	histMaxUs   = int64(3600 * 1e6)
	histSigFigs = 3
)

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMinUs, histMaxUs, histSigFigs)
}

// recordUs records a duration in nanoseconds as microseconds, clamped to
// the histogram's range (0 becomes the lowest bucket).
func recordUs(h *hdrhistogram.Histogram, ns int64) {
	us := ns / 1000
	if us < histMinUs {
		us = histMinUs
	}
	if us > histMaxUs {
		us = histMaxUs
	}
	_ = h.RecordValue(us) // cannot fail: clamped to the range
}

// Quantiles summarises one latency distribution, in microseconds.
type Quantiles struct {
	Count   int64   `json:"count"`
	MeanUs  float64 `json:"mean_us"`
	P50Us   int64   `json:"p50_us"`
	P75Us   int64   `json:"p75_us"`
	P95Us   int64   `json:"p95_us"`
	P99Us   int64   `json:"p99_us"`
	P999Us  int64   `json:"p99_9_us"`
	P9999Us int64   `json:"p99_99_us"`
	MaxUs   int64   `json:"max_us"`
}

// quantilesOf summarises h; an empty histogram gives the zero Quantiles.
func quantilesOf(h *hdrhistogram.Histogram) Quantiles {
	if h == nil || h.TotalCount() == 0 {
		return Quantiles{}
	}
	return Quantiles{
		Count:   h.TotalCount(),
		MeanUs:  math.Round(h.Mean()*10) / 10,
		P50Us:   h.ValueAtQuantile(50),
		P75Us:   h.ValueAtQuantile(75),
		P95Us:   h.ValueAtQuantile(95),
		P99Us:   h.ValueAtQuantile(99),
		P999Us:  h.ValueAtQuantile(99.9),
		P9999Us: h.ValueAtQuantile(99.99),
		MaxUs:   h.Max(),
	}
}

// CurvePoint is one point of a latency-quantile curve.
type CurvePoint struct {
	// Percentile is 0..100 (for example 99.9).
	Percentile float64 `json:"percentile"`
	// ValueUs is the latency at that percentile in microseconds.
	ValueUs int64 `json:"value_us"`
}

// curvePercentiles are the points of a quantile curve: evenly spaced on the
// "number of nines" axis (HdrHistogram's percentile-distribution plot), from
// the median to 99.999%, then the max as 100.
var curvePercentiles = func() []float64 {
	var ps []float64
	for nines := 0.0; nines <= 5.0001; nines += 0.25 {
		p := 100 * (1 - 0.5*math.Pow(10, -nines))
		ps = append(ps, math.Round(p*1e6)/1e6)
	}
	return append([]float64{0, 25}, append(ps, 100)...)
}()

// curveOf samples h's quantile curve; nil for an empty histogram.
func curveOf(h *hdrhistogram.Histogram) []CurvePoint {
	if h == nil || h.TotalCount() == 0 {
		return nil
	}
	out := make([]CurvePoint, 0, len(curvePercentiles))
	for _, p := range curvePercentiles {
		v := h.ValueAtQuantile(p)
		if p == 100 {
			v = h.Max()
		}
		out = append(out, CurvePoint{Percentile: p, ValueUs: v})
	}
	return out
}

// mergeAll merges every histogram of from into a new histogram.
func mergeAll(from ...*hdrhistogram.Histogram) *hdrhistogram.Histogram {
	m := newHist()
	for _, h := range from {
		if h != nil {
			m.Merge(h)
		}
	}
	return m
}
