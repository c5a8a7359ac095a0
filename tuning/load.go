package tuning

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"github.com/brokerlab/brokerlab/loadgen"
)

// LoadgenLoad drives a workload with the load generator (loadgen.Run). The
// plan's warm-up and measure durations replace the workload file's.
type LoadgenLoad struct {
	Workload loadgen.Workload
	Driver   loadgen.Driver
	// Progress receives the load generator's per-window lines; nil: none.
	Progress io.Writer
	Logger   *slog.Logger
}

// Run implements Load.
func (l LoadgenLoad) Run(ctx context.Context, addr string, warmup, measure time.Duration, label, resultFile string) (Measurement, []string, error) {
	w := l.Workload
	w.WarmupDurationMinutes, w.WarmupDurationSeconds = 0, int(math.Ceil(warmup.Seconds()))
	w.TestDurationMinutes, w.TestDurationSeconds = 0, max(1, int(math.Ceil(measure.Seconds())))
	res, err := loadgen.Run(ctx, w, l.Driver, loadgen.Options{
		Brokers: []string{addr}, Label: label, Progress: l.Progress, Logger: l.Logger,
		OnMeasure: measureHook(ctx),
	})
	if err != nil {
		return Measurement{}, nil, err
	}
	if resultFile != "" {
		if err := res.WriteFile(resultFile); err != nil {
			return Measurement{}, nil, err
		}
	}
	m, notes := measurementOf(res)
	return m, notes, nil
}

// measurementOf maps a load generator result to a Measurement: throughput
// is what the consumers received (what the producers got acknowledged when
// there are no consumers); latencies come from the measure phase's
// aggregate, in seconds.
func measurementOf(res *loadgen.Result) (Measurement, []string) {
	a := res.Aggregate
	us := func(v int64) float64 { return float64(v) / 1e6 }
	m := Measurement{
		ThroughputMsgs:  a.ConsumeRate,
		ThroughputBytes: a.ConsumeMBps * 1e6,
		PublishP50:      us(a.PublishLatency.P50Us),
		PublishP99:      us(a.PublishLatency.P99Us),
		PublishP999:     us(a.PublishLatency.P999Us),
		E2EP99:          us(a.EndToEnd.P99Us),
		Produced:        producedOf(res),
	}
	if res.Workload.Consumers() == 0 {
		m.ThroughputMsgs, m.ThroughputBytes = a.PublishRate, a.PublishMBps*1e6
	}
	notes := append([]string(nil), res.Verdict.Reasons...)
	if !res.Verdict.TargetHeld && len(notes) == 0 {
		notes = append(notes, fmt.Sprintf("target rate not held (%.0f%% achieved)", 100*res.Verdict.AchievedRatio))
	}
	if a.Errors > 0 {
		notes = append(notes, fmt.Sprintf("%d produce errors", a.Errors))
	}
	return m, notes
}

// LoadgenCeilings measures a log dir's ceiling with loadgen.MeasureCeilings:
// the lower of sequential page-cache writes and loopback TCP, the two limits
// a produce-and-consume workload meets first.
type LoadgenCeilings struct {
	// Each is the duration of each of the four measurements. Default 1s.
	Each time.Duration
	// MaxFileBytes bounds the test files, the write test's and the
	// sendfile test's (they must fit on the disk under test). Default 64
	// MiB.
	MaxFileBytes int64
}

// Measure implements Ceilings.
func (c LoadgenCeilings) Measure(ctx context.Context, dir string) (float64, error) {
	each := c.Each
	if each == 0 {
		each = time.Second
	}
	size := c.MaxFileBytes
	if size == 0 {
		size = 64 << 20
	}
	ce, err := loadgen.MeasureCeilings(ctx, dir, loadgen.CeilingOptions{Duration: each, MaxFileBytes: size, SendfileFileBytes: size})
	if err != nil {
		return 0, err
	}
	return math.Min(ce.WriteMBps, ce.TCPMBps) * 1e6, nil
}
