package loadgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
)

// OMBResult is a run in OpenMessaging Benchmark's result format: the JSON
// that OMB's TestResult class (benchmark-framework, io.openmessaging.benchmark)
// writes and that OMB's chart script (bin/create_charts.py) reads. The field
// names are OMB's; so are the units: publish and end-to-end latency in
// milliseconds, publish delay in microseconds, rates in messages/s.
//
// Per-window lists cover the measured windows (measure, build and drain), as
// OMB's lists cover the test phase after its warm-up; the aggregated figures
// are this run's Aggregate (merged histograms, not averages of windows).
type OMBResult struct {
	Workload          string `json:"workload"`
	Driver            string `json:"driver"`
	MessageSize       int64  `json:"messageSize"`
	Topics            int    `json:"topics"`
	Partitions        int    `json:"partitions"`
	ProducersPerTopic int    `json:"producersPerTopic"`
	ConsumersPerTopic int    `json:"consumersPerTopic"`

	PublishRate      []float64 `json:"publishRate"`
	PublishErrorRate []float64 `json:"publishErrorRate"`
	ConsumeRate      []float64 `json:"consumeRate"`
	Backlog          []int64   `json:"backlog"`

	PublishLatencyAvg      []float64 `json:"publishLatencyAvg"`
	PublishLatency50pct    []float64 `json:"publishLatency50pct"`
	PublishLatency75pct    []float64 `json:"publishLatency75pct"`
	PublishLatency95pct    []float64 `json:"publishLatency95pct"`
	PublishLatency99pct    []float64 `json:"publishLatency99pct"`
	PublishLatency999pct   []float64 `json:"publishLatency999pct"`
	PublishLatency9999pct  []float64 `json:"publishLatency9999pct"`
	PublishLatency99999pct []float64 `json:"publishLatency99999pct"`
	PublishLatencyMax      []float64 `json:"publishLatencyMax"`

	PublishDelayLatencyAvg      []float64 `json:"publishDelayLatencyAvg"`
	PublishDelayLatency50pct    []int64   `json:"publishDelayLatency50pct"`
	PublishDelayLatency75pct    []int64   `json:"publishDelayLatency75pct"`
	PublishDelayLatency95pct    []int64   `json:"publishDelayLatency95pct"`
	PublishDelayLatency99pct    []int64   `json:"publishDelayLatency99pct"`
	PublishDelayLatency999pct   []int64   `json:"publishDelayLatency999pct"`
	PublishDelayLatency9999pct  []int64   `json:"publishDelayLatency9999pct"`
	PublishDelayLatency99999pct []int64   `json:"publishDelayLatency99999pct"`
	PublishDelayLatencyMax      []int64   `json:"publishDelayLatencyMax"`

	AggregatedPublishLatencyAvg      float64 `json:"aggregatedPublishLatencyAvg"`
	AggregatedPublishLatency50pct    float64 `json:"aggregatedPublishLatency50pct"`
	AggregatedPublishLatency75pct    float64 `json:"aggregatedPublishLatency75pct"`
	AggregatedPublishLatency95pct    float64 `json:"aggregatedPublishLatency95pct"`
	AggregatedPublishLatency99pct    float64 `json:"aggregatedPublishLatency99pct"`
	AggregatedPublishLatency999pct   float64 `json:"aggregatedPublishLatency999pct"`
	AggregatedPublishLatency9999pct  float64 `json:"aggregatedPublishLatency9999pct"`
	AggregatedPublishLatency99999pct float64 `json:"aggregatedPublishLatency99999pct"`
	AggregatedPublishLatencyMax      float64 `json:"aggregatedPublishLatencyMax"`

	AggregatedPublishDelayLatencyAvg      float64 `json:"aggregatedPublishDelayLatencyAvg"`
	AggregatedPublishDelayLatency50pct    int64   `json:"aggregatedPublishDelayLatency50pct"`
	AggregatedPublishDelayLatency75pct    int64   `json:"aggregatedPublishDelayLatency75pct"`
	AggregatedPublishDelayLatency95pct    int64   `json:"aggregatedPublishDelayLatency95pct"`
	AggregatedPublishDelayLatency99pct    int64   `json:"aggregatedPublishDelayLatency99pct"`
	AggregatedPublishDelayLatency999pct   int64   `json:"aggregatedPublishDelayLatency999pct"`
	AggregatedPublishDelayLatency9999pct  int64   `json:"aggregatedPublishDelayLatency9999pct"`
	AggregatedPublishDelayLatency99999pct int64   `json:"aggregatedPublishDelayLatency99999pct"`
	AggregatedPublishDelayLatencyMax      int64   `json:"aggregatedPublishDelayLatencyMax"`

	AggregatedPublishLatencyQuantiles      OMBQuantiles `json:"aggregatedPublishLatencyQuantiles"`
	AggregatedPublishDelayLatencyQuantiles OMBQuantiles `json:"aggregatedPublishDelayLatencyQuantiles"`

	EndToEndLatencyAvg      []float64 `json:"endToEndLatencyAvg"`
	EndToEndLatency50pct    []float64 `json:"endToEndLatency50pct"`
	EndToEndLatency75pct    []float64 `json:"endToEndLatency75pct"`
	EndToEndLatency95pct    []float64 `json:"endToEndLatency95pct"`
	EndToEndLatency99pct    []float64 `json:"endToEndLatency99pct"`
	EndToEndLatency999pct   []float64 `json:"endToEndLatency999pct"`
	EndToEndLatency9999pct  []float64 `json:"endToEndLatency9999pct"`
	EndToEndLatency99999pct []float64 `json:"endToEndLatency99999pct"`
	EndToEndLatencyMax      []float64 `json:"endToEndLatencyMax"`

	AggregatedEndToEndLatencyQuantiles OMBQuantiles `json:"aggregatedEndToEndLatencyQuantiles"`

	AggregatedEndToEndLatencyAvg      float64 `json:"aggregatedEndToEndLatencyAvg"`
	AggregatedEndToEndLatency50pct    float64 `json:"aggregatedEndToEndLatency50pct"`
	AggregatedEndToEndLatency75pct    float64 `json:"aggregatedEndToEndLatency75pct"`
	AggregatedEndToEndLatency95pct    float64 `json:"aggregatedEndToEndLatency95pct"`
	AggregatedEndToEndLatency99pct    float64 `json:"aggregatedEndToEndLatency99pct"`
	AggregatedEndToEndLatency999pct   float64 `json:"aggregatedEndToEndLatency999pct"`
	AggregatedEndToEndLatency9999pct  float64 `json:"aggregatedEndToEndLatency9999pct"`
	AggregatedEndToEndLatency99999pct float64 `json:"aggregatedEndToEndLatency99999pct"`
	AggregatedEndToEndLatencyMax      float64 `json:"aggregatedEndToEndLatencyMax"`
}

// OMBQuantiles maps a percentile (0..100) to a latency, as OMB's
// TreeMap<Double, …> fields do. It encodes as a JSON object whose keys are
// the percentiles written the way Java's Double.toString writes them ("50.0",
// "99.9"), in ascending order, so OMB's scripts and a diff read it alike.
type OMBQuantiles map[float64]float64

// MarshalJSON writes q with Java-style, ascending keys.
func (q OMBQuantiles) MarshalJSON() ([]byte, error) {
	keys := make([]float64, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Float64s(keys)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		v, err := json.Marshal(q[k])
		if err != nil {
			return nil, fmt.Errorf("encoding quantile %v: %w", k, err)
		}
		fmt.Fprintf(&b, "%q:%s", javaDouble(k), v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads an object with percentile keys.
func (q *OMBQuantiles) UnmarshalJSON(data []byte) error {
	var raw map[string]float64
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	out := make(OMBQuantiles, len(raw))
	for k, v := range raw {
		p, err := strconv.ParseFloat(k, 64)
		if err != nil {
			return fmt.Errorf("quantile key %q is not a percentile: %w", k, err)
		}
		out[p] = v
	}
	*q = out
	return nil
}

// javaDouble formats f as Java's Double.toString does for the values a
// percentile takes: integral values keep one decimal ("50.0").
func javaDouble(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e7 {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// OMB converts r to OpenMessaging Benchmark's result format.
func (r *Result) OMB() OMBResult {
	w := r.Workload
	o := OMBResult{
		Workload:          w.Name,
		Driver:            r.Driver.Name,
		MessageSize:       int64(w.MessageSize),
		Topics:            w.Topics,
		Partitions:        w.PartitionsPerTopic,
		ProducersPerTopic: w.ProducersPerTopic,
		// OMB's WorkloadGenerator writes consumerPerSubscription here.
		ConsumersPerTopic: w.ConsumerPerSubscription,
	}
	o.initLists()
	for _, win := range r.Windows {
		switch win.Phase {
		case PhaseMeasure, PhaseBuild, PhaseDrain:
		default:
			continue
		}
		errRate := 0.0
		if win.Seconds > 0 {
			errRate = float64(win.Errors) / win.Seconds
		}
		o.PublishRate = append(o.PublishRate, win.PublishRate)
		o.PublishErrorRate = append(o.PublishErrorRate, errRate)
		o.ConsumeRate = append(o.ConsumeRate, win.ConsumeRate)
		o.Backlog = append(o.Backlog, win.Backlog)

		// The lab does not keep p99.999 per window; OMB's own generator
		// leaves that list empty too.
		appendMillis(win.PublishLatency, &o.PublishLatencyAvg, &o.PublishLatency50pct, &o.PublishLatency75pct,
			&o.PublishLatency95pct, &o.PublishLatency99pct, &o.PublishLatency999pct, &o.PublishLatency9999pct,
			&o.PublishLatencyMax)

		pd := win.PublishDelay
		o.PublishDelayLatencyAvg = append(o.PublishDelayLatencyAvg, pd.MeanUs)
		o.PublishDelayLatency50pct = append(o.PublishDelayLatency50pct, pd.P50Us)
		o.PublishDelayLatency75pct = append(o.PublishDelayLatency75pct, pd.P75Us)
		o.PublishDelayLatency95pct = append(o.PublishDelayLatency95pct, pd.P95Us)
		o.PublishDelayLatency99pct = append(o.PublishDelayLatency99pct, pd.P99Us)
		o.PublishDelayLatency999pct = append(o.PublishDelayLatency999pct, pd.P999Us)
		o.PublishDelayLatency9999pct = append(o.PublishDelayLatency9999pct, pd.P9999Us)
		o.PublishDelayLatencyMax = append(o.PublishDelayLatencyMax, pd.MaxUs)

		appendMillis(win.EndToEnd, &o.EndToEndLatencyAvg, &o.EndToEndLatency50pct, &o.EndToEndLatency75pct,
			&o.EndToEndLatency95pct, &o.EndToEndLatency99pct, &o.EndToEndLatency999pct, &o.EndToEndLatency9999pct,
			&o.EndToEndLatencyMax)
	}

	a := r.Aggregate
	setMillis(a.PublishLatency, r.Curves.PublishLatency, &o.AggregatedPublishLatencyAvg, &o.AggregatedPublishLatency50pct,
		&o.AggregatedPublishLatency75pct, &o.AggregatedPublishLatency95pct, &o.AggregatedPublishLatency99pct,
		&o.AggregatedPublishLatency999pct, &o.AggregatedPublishLatency9999pct, &o.AggregatedPublishLatency99999pct,
		&o.AggregatedPublishLatencyMax)

	o.AggregatedPublishDelayLatencyAvg = a.PublishDelay.MeanUs
	o.AggregatedPublishDelayLatency50pct = a.PublishDelay.P50Us
	o.AggregatedPublishDelayLatency75pct = a.PublishDelay.P75Us
	o.AggregatedPublishDelayLatency95pct = a.PublishDelay.P95Us
	o.AggregatedPublishDelayLatency99pct = a.PublishDelay.P99Us
	o.AggregatedPublishDelayLatency999pct = a.PublishDelay.P999Us
	o.AggregatedPublishDelayLatency9999pct = a.PublishDelay.P9999Us
	o.AggregatedPublishDelayLatency99999pct = curveAt(r.Curves.PublishDelay, 99.999)
	o.AggregatedPublishDelayLatencyMax = a.PublishDelay.MaxUs

	setMillis(a.EndToEnd, r.Curves.EndToEnd, &o.AggregatedEndToEndLatencyAvg, &o.AggregatedEndToEndLatency50pct,
		&o.AggregatedEndToEndLatency75pct, &o.AggregatedEndToEndLatency95pct, &o.AggregatedEndToEndLatency99pct,
		&o.AggregatedEndToEndLatency999pct, &o.AggregatedEndToEndLatency9999pct, &o.AggregatedEndToEndLatency99999pct,
		&o.AggregatedEndToEndLatencyMax)

	o.AggregatedPublishLatencyQuantiles = quantileMap(r.Curves.PublishLatency, 1000)
	o.AggregatedPublishDelayLatencyQuantiles = quantileMap(r.Curves.PublishDelay, 1)
	o.AggregatedEndToEndLatencyQuantiles = quantileMap(r.Curves.EndToEnd, 1000)
	return o
}

// initLists makes every per-window list empty rather than nil, so that a run
// without measured windows (and the lists the lab has no figure for, such as
// p99.999 per window) encode as [] the way OMB writes them, never null.
func (o *OMBResult) initLists() {
	for _, l := range []*[]float64{
		&o.PublishRate, &o.PublishErrorRate, &o.ConsumeRate,
		&o.PublishLatencyAvg, &o.PublishLatency50pct, &o.PublishLatency75pct, &o.PublishLatency95pct,
		&o.PublishLatency99pct, &o.PublishLatency999pct, &o.PublishLatency9999pct, &o.PublishLatency99999pct,
		&o.PublishLatencyMax, &o.PublishDelayLatencyAvg,
		&o.EndToEndLatencyAvg, &o.EndToEndLatency50pct, &o.EndToEndLatency75pct, &o.EndToEndLatency95pct,
		&o.EndToEndLatency99pct, &o.EndToEndLatency999pct, &o.EndToEndLatency9999pct,
		&o.EndToEndLatency99999pct, &o.EndToEndLatencyMax,
	} {
		*l = []float64{}
	}
	for _, l := range []*[]int64{
		&o.Backlog, &o.PublishDelayLatency50pct, &o.PublishDelayLatency75pct, &o.PublishDelayLatency95pct,
		&o.PublishDelayLatency99pct, &o.PublishDelayLatency999pct, &o.PublishDelayLatency9999pct,
		&o.PublishDelayLatency99999pct, &o.PublishDelayLatencyMax,
	} {
		*l = []int64{}
	}
}

// appendMillis appends one window's quantiles, converted to OMB's
// milliseconds, to the per-window lists of one latency.
func appendMillis(q Quantiles, avg, p50, p75, p95, p99, p999, p9999, max *[]float64) {
	*avg = append(*avg, q.MeanUs/1000)
	*p50 = append(*p50, ms(q.P50Us))
	*p75 = append(*p75, ms(q.P75Us))
	*p95 = append(*p95, ms(q.P95Us))
	*p99 = append(*p99, ms(q.P99Us))
	*p999 = append(*p999, ms(q.P999Us))
	*p9999 = append(*p9999, ms(q.P9999Us))
	*max = append(*max, ms(q.MaxUs))
}

// setMillis sets one latency's aggregated figures in milliseconds from q,
// and p99.999 from the curve (Quantiles stops at p99.99).
func setMillis(q Quantiles, curve []CurvePoint, avg, p50, p75, p95, p99, p999, p9999, p99999, max *float64) {
	*avg = q.MeanUs / 1000
	*p50, *p75, *p95, *p99 = ms(q.P50Us), ms(q.P75Us), ms(q.P95Us), ms(q.P99Us)
	*p999, *p9999, *p99999 = ms(q.P999Us), ms(q.P9999Us), ms(curveAt(curve, 99.999))
	*max = ms(q.MaxUs)
}

// ms converts microseconds to OMB's milliseconds.
func ms(us int64) float64 { return float64(us) / 1000 }

// curveAt is the curve's value at the first point at or above percentile p:
// the curve samples the histogram on a "number of nines" grid, so a
// percentile between two points is answered with the higher one (an upper
// bound, never an optimistic figure). 0 for an empty curve.
func curveAt(c []CurvePoint, p float64) int64 {
	for _, pt := range c {
		if pt.Percentile >= p-1e-9 {
			return pt.ValueUs
		}
	}
	if len(c) > 0 {
		return c[len(c)-1].ValueUs
	}
	return 0
}

// quantileMap turns a curve into OMB's percentile map, dividing each value
// (µs) by div.
func quantileMap(c []CurvePoint, div float64) OMBQuantiles {
	q := make(OMBQuantiles, len(c))
	for _, pt := range c {
		q[pt.Percentile] = float64(pt.ValueUs) / div
	}
	return q
}

// WriteOMB writes r in OMB's result format as indented JSON to w.
func (r *Result) WriteOMB(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r.OMB()); err != nil {
		return fmt.Errorf("encoding OMB result: %w", err)
	}
	return nil
}
