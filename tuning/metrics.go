package tuning

import (
	"fmt"

	"github.com/brokerlab/brokerlab/tuning/stats"
)

// Direction says which way a metric improves.
type Direction int

// Directions.
const (
	HigherIsBetter Direction = iota + 1
	LowerIsBetter
	// Neutral metrics are evidence, not goals (a hit rate explains a
	// latency change; it is not optimised for its own sake).
	Neutral
)

// Metric is one column of the comparison tables.
type Metric struct {
	// Key names the metric in plans (objective:) and files.
	Key string
	// Title is the column header.
	Title string
	// Unit is shown after values ("MB/s", "ms").
	Unit string
	// Direction says which way is better.
	Direction Direction
	// Evidence marks the "why" columns: probe readings and the split of
	// the broker's CPU into user and system time.
	Evidence bool
	// Scale converts the stored base unit to the shown unit.
	Scale float64
	// Threshold is the smallest relative change of the median reported as
	// a finding (stats.Practical); 0 = stats.DefaultPracticalThreshold. A
	// plan's thresholds: replace it.
	Threshold float64
	// Get returns the value in base units, false when not measured.
	Get func(m Measurement) (float64, bool)
}

// log2Bucket is the width of a log2 histogram bucket as a relative
// change: a factor of 2.
const log2Bucket = 1.0

func opt(p *float64) (float64, bool) {
	if p == nil {
		return 0, false
	}
	return *p, true
}

func always(v float64) (float64, bool) { return v, true }

// Metrics are the metrics the lab compares, in table order.
var Metrics = []Metric{
	{Key: "throughput", Title: "throughput", Unit: "MB/s", Direction: HigherIsBetter, Scale: 1e-6,
		Get: func(m Measurement) (float64, bool) { return always(m.ThroughputBytes) }},
	{Key: "publish_p50", Title: "publish p50", Unit: "ms", Direction: LowerIsBetter, Scale: 1e3,
		Get: func(m Measurement) (float64, bool) { return always(m.PublishP50) }},
	{Key: "publish_p99", Title: "publish p99", Unit: "ms", Direction: LowerIsBetter, Scale: 1e3,
		Get: func(m Measurement) (float64, bool) { return always(m.PublishP99) }},
	{Key: "publish_p999", Title: "publish p99.9", Unit: "ms", Direction: LowerIsBetter, Scale: 1e3,
		Get: func(m Measurement) (float64, bool) { return always(m.PublishP999) }},
	{Key: "e2e_p99", Title: "e2e p99", Unit: "ms", Direction: LowerIsBetter, Scale: 1e3,
		Get: func(m Measurement) (float64, bool) { return always(m.E2EP99) }},
	{Key: "ceiling_pct", Title: "share of ceiling", Unit: "%", Direction: HigherIsBetter, Scale: 100,
		Get: func(m Measurement) (float64, bool) {
			if m.CeilingBytes <= 0 {
				return 0, false
			}
			return m.ThroughputBytes / m.CeilingBytes, true
		}},
	// The broker's cost: CPU (utime+stime over the run's /proc window) per
	// GB and per million records produced in that window, and its peak
	// resident set (VmHWM: the runner starts a broker for each run, so the
	// peak is that run's, start-up included). A change that holds the rate at a lower CPU per GB
	// leaves room a saturated machine would turn into throughput.
	{Key: "cpu_per_gb", Title: "broker CPU", Unit: "s/GB", Direction: LowerIsBetter, Scale: 1e9,
		Get: func(m Measurement) (float64, bool) { return m.brokerCPUPer(cpuTotal, perByte) }},
	{Key: "cpu_per_mrecords", Title: "broker CPU", Unit: "s/M records", Direction: LowerIsBetter, Scale: 1e6,
		Get: func(m Measurement) (float64, bool) { return m.brokerCPUPer(cpuTotal, perRecord) }},
	{Key: "peak_rss", Title: "broker peak RSS", Unit: "MiB", Direction: LowerIsBetter, Scale: 1.0 / (1 << 20),
		Get: func(m Measurement) (float64, bool) {
			if m.Proc == nil || m.Proc.Process == nil || m.Proc.Process.PeakRSS == 0 {
				return 0, false
			}
			return float64(m.Proc.Process.PeakRSS), true
		}},
	// The fsync probe keeps a log2 histogram: within a bucket its quantile
	// estimate is an interpolation, so a median that moved by one bucket (a
	// factor of 2) is resolution, not a finding (bpf.Histogram.Estimate).
	{Key: "fsync_p50", Title: "fsync p50", Unit: "ms", Direction: LowerIsBetter, Evidence: true, Scale: 1e3, Threshold: log2Bucket,
		Get: func(m Measurement) (float64, bool) { return opt(m.FsyncP50) }},
	{Key: "fsync_p99", Title: "fsync p99", Unit: "ms", Direction: LowerIsBetter, Evidence: true, Scale: 1e3, Threshold: log2Bucket,
		Get: func(m Measurement) (float64, bool) { return opt(m.FsyncP99) }},
	{Key: "user_per_gb", Title: "broker user CPU", Unit: "s/GB", Direction: LowerIsBetter, Evidence: true, Scale: 1e9,
		Get: func(m Measurement) (float64, bool) { return m.brokerCPUPer(cpuUser, perByte) }},
	{Key: "system_per_gb", Title: "broker system CPU", Unit: "s/GB", Direction: LowerIsBetter, Evidence: true, Scale: 1e9,
		Get: func(m Measurement) (float64, bool) { return m.brokerCPUPer(cpuSystem, perByte) }},
	{Key: "page_cache_hit", Title: "page-cache hits", Unit: "%", Direction: Neutral, Evidence: true, Scale: 100,
		Get: func(m Measurement) (float64, bool) { return opt(m.PageCacheHitRate) }},
	{Key: "swap_ins", Title: "swap-ins", Unit: "", Direction: Neutral, Evidence: true, Scale: 1,
		Get: func(m Measurement) (float64, bool) { return opt(m.SwapIns) }},
	{Key: "sndbuf_full", Title: "sndbuf full", Unit: "%", Direction: Neutral, Evidence: true, Scale: 100,
		Get: func(m Measurement) (float64, bool) { return opt(m.SendBufFull) }},
	{Key: "sendfile", Title: "sendfile share", Unit: "%", Direction: Neutral, Evidence: true, Scale: 100,
		Get: func(m Measurement) (float64, bool) { return opt(m.SendfileShare) }},
}

// MetricByKey returns the metric with key.
func MetricByKey(key string) (Metric, error) {
	for _, m := range Metrics {
		if m.Key == key {
			return m, nil
		}
	}
	return Metric{}, fmt.Errorf("unknown metric %q", key)
}

// objectiveKeys are the metrics a plan may optimise for: cpu_per_gb
// where the workload holds a rate, so that the throughput is fixed and
// what a setting changes is what the broker spends on it.
var objectiveKeys = []string{"throughput", "publish_p50", "publish_p99", "publish_p999", "e2e_p99", "cpu_per_gb"}

// ThresholdOf is the practical threshold of metric m in plan p: the plan's
// thresholds: entry, else m.Threshold, else the stats default (5%).
func (p *Plan) ThresholdOf(m Metric) float64 {
	if p != nil {
		if v, ok := p.Thresholds[m.Key]; ok {
			return v
		}
	}
	if m.Threshold > 0 {
		return m.Threshold
	}
	return stats.DefaultPracticalThreshold
}
