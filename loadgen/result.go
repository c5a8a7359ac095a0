package loadgen

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/brokerlab/brokerlab/procsample"
)

// SchemaVersion is the version of the Result JSON layout, documented in
// SCHEMA.md. It changes when a field is renamed, removed or changes meaning;
// adding a field does not change it.
const SchemaVersion = 1

// Result is one run's outcome, written as JSON (see SCHEMA.md).
type Result struct {
	SchemaVersion int       `json:"schema_version"`
	StartedAt     time.Time `json:"started_at"`
	// Label names the run in reports (Options.Label, default the workload name).
	Label       string                 `json:"label"`
	Workload    Workload               `json:"workload"`
	Driver      Driver                 `json:"driver"`
	Target      Target                 `json:"target"`
	Environment procsample.Environment `json:"environment"`
	// Ceilings, when measured or loaded, are the machine's limits for "% of
	// ceiling" comparisons.
	Ceilings *Ceilings `json:"ceilings,omitempty"`
	// WindowSeconds is the length of one time-series window.
	WindowSeconds float64 `json:"window_seconds"`
	// RateSearch is set when producerRate was 0.
	RateSearch *RateSearch `json:"rate_search,omitempty"`
	// Backlog is set in backlog mode.
	Backlog *BacklogResult `json:"backlog,omitempty"`
	// Windows is the time series, one entry per window, every phase.
	Windows []Window `json:"windows"`
	// Aggregate covers the measured phases (measure; build and drain).
	Aggregate Aggregate `json:"aggregate"`
	// Totals count the whole run, every phase: whether anything was lost.
	Totals Totals `json:"totals"`
	// Curves are the quantile curves of the measured phases.
	Curves Curves `json:"curves"`
	// Verdict says whether the run held its target rate, and why not.
	Verdict Verdict `json:"verdict"`
	// Profiles are pprof files of the target taken over the measured
	// phase (lab load -profile), relative to the result file's directory.
	Profiles []string `json:"profiles,omitempty"`
}

// Target describes the system under test.
type Target struct {
	Brokers []string `json:"brokers"`
	// Name, Version and Config are what the caller says (flags -target,
	// -target-version, -target-config); the loader does not guess them.
	Name    string            `json:"name,omitempty"`
	Version string            `json:"version,omitempty"`
	Config  map[string]string `json:"config,omitempty"`
}

// Phases of a run, as found in Window.Phase.
const (
	PhaseSearch  = "search"  // max-rate search (producerRate 0)
	PhaseWarmup  = "warmup"  // at the target rate, not aggregated
	PhaseMeasure = "measure" // aggregated
	PhaseBuild   = "build"   // backlog mode: consumers paused
	PhaseDrain   = "drain"   // backlog mode: consumers draining
	// PhaseTail is after the producers stop: outstanding acks and consumer
	// catch-up. Its latencies join the aggregate, its counts do not.
	PhaseTail = "tail"
)

// Window is one time-series entry. Rates are per second over the window.
type Window struct {
	// StartSeconds is the window's start since the run's start.
	StartSeconds float64 `json:"start_s"`
	Seconds      float64 `json:"seconds"`
	Phase        string  `json:"phase"`
	// TargetRate is the schedule's rate in messages/s (0: unpaced).
	TargetRate float64 `json:"target_rate"`
	// Sent counts Produce calls, Acked acknowledged records, Received
	// consumed records; the bytes are record values.
	Sent         int64   `json:"sent"`
	Acked        int64   `json:"acked"`
	Received     int64   `json:"received"`
	PublishBytes int64   `json:"publish_bytes"`
	ConsumeBytes int64   `json:"consume_bytes"`
	PublishRate  float64 `json:"publish_rate"`
	PublishMBps  float64 `json:"publish_mb_s"`
	ConsumeRate  float64 `json:"consume_rate"`
	ConsumeMBps  float64 `json:"consume_mb_s"`
	Errors       int64   `json:"errors"`
	// Backlog is messages produced (acked) times subscriptions minus
	// messages consumed, at the window's end.
	Backlog int64 `json:"backlog"`
	// InFlight is records sent but not yet acknowledged, at the window's end.
	InFlight int64 `json:"in_flight"`
	// ScheduleLagUs is how overdue the schedule's next slot was at the
	// window's end: about 0 while producers keep up.
	ScheduleLagUs  int64     `json:"schedule_lag_us"`
	PublishLatency Quantiles `json:"publish_latency"`
	PublishDelay   Quantiles `json:"publish_delay"`
	EndToEnd       Quantiles `json:"end_to_end"`
}

// Aggregate sums the measured phases (measure, build, drain); latency
// quantiles also include the tail, whose records were sent while measured.
type Aggregate struct {
	Seconds        float64   `json:"seconds"`
	TargetRate     float64   `json:"target_rate"`
	Sent           int64     `json:"sent"`
	Acked          int64     `json:"acked"`
	Errors         int64     `json:"errors"`
	Received       int64     `json:"received"`
	PublishRate    float64   `json:"publish_rate"`
	PublishMBps    float64   `json:"publish_mb_s"`
	ConsumeRate    float64   `json:"consume_rate"`
	ConsumeMBps    float64   `json:"consume_mb_s"`
	PublishLatency Quantiles `json:"publish_latency"`
	PublishDelay   Quantiles `json:"publish_delay"`
	EndToEnd       Quantiles `json:"end_to_end"`
}

// Totals count the whole run, from the first record to the end of the
// drain: search, warm-up, measured phases and tail. Unlike Aggregate, whose
// received count is the measured phases' (the consumer lag at their start
// minus the lag at their end off from the acked count), they add up:
// Drained says every subscription received every acknowledged record.
type Totals struct {
	// Sent counts Produce calls, Acked acknowledged records, ProduceErrors
	// failed records.
	Sent          int64 `json:"sent"`
	Acked         int64 `json:"acked"`
	ProduceErrors int64 `json:"produce_errors"`
	// Subscriptions: one entry per consumer group, in topic order.
	Subscriptions []SubscriptionTotals `json:"subscriptions"`
	// Duplicates and Missing sum the subscriptions'.
	Duplicates int64 `json:"duplicates"`
	Missing    int64 `json:"missing"`
	// Drained is true when the run ended with nothing missing: every
	// subscription received each acknowledged record of its topic. False
	// when the drain timed out (Options.DrainTimeout), the run was
	// cancelled, or in backlog mode when the drain phase ended early. True
	// when the workload has no subscriptions.
	Drained bool `json:"drained"`
}

// SubscriptionTotals is one consumer group's whole-run count.
type SubscriptionTotals struct {
	Topic string `json:"topic"`
	Group string `json:"group"`
	// Acked counts the records acknowledged to the topic; Received the
	// records the group's consumers got, Duplicates those among them with
	// an offset the group had already consumed (redelivered after a
	// rebalance); Missing = Acked - (Received - Duplicates), at least 0.
	Acked      int64 `json:"acked"`
	Received   int64 `json:"received"`
	Duplicates int64 `json:"duplicates"`
	Missing    int64 `json:"missing"`
}

// Curves are latency-quantile curves.
type Curves struct {
	PublishLatency []CurvePoint `json:"publish_latency,omitempty"`
	PublishDelay   []CurvePoint `json:"publish_delay,omitempty"`
	EndToEnd       []CurvePoint `json:"end_to_end,omitempty"`
}

// Verdict says whether the run held its target rate.
type Verdict struct {
	// TargetHeld is false when the achieved publish rate was below
	// HeldRatio of the target, or publish delay kept growing.
	TargetHeld bool `json:"target_held"`
	// AchievedRatio is the aggregate publish rate over the target rate
	// (0 when unpaced).
	AchievedRatio float64 `json:"achieved_ratio"`
	// Reasons explains a failed verdict (and notes, e.g. a backlog that did
	// not drain), one sentence each.
	Reasons []string `json:"reasons,omitempty"`
}

// RateSearch records how producerRate 0 chose the rate.
type RateSearch struct {
	// Method describes the rule in one paragraph.
	Method string       `json:"method"`
	Steps  []SearchStep `json:"steps"`
	// SettledRate is the rate the measured phase ran at.
	SettledRate float64 `json:"settled_rate"`
	// MaxSustainable is the highest rate that passed.
	MaxSustainable float64 `json:"max_sustainable"`
}

// SearchStep is one probed rate.
type SearchStep struct {
	Rate           float64 `json:"rate"`
	Achieved       float64 `json:"achieved"`
	PublishDelayUs int64   `json:"publish_delay_p99_us"`
	ScheduleLagUs  int64   `json:"schedule_lag_us"`
	InFlightGrowth int64   `json:"in_flight_growth"`
	BacklogGrowth  int64   `json:"backlog_growth"`
	OK             bool    `json:"ok"`
	// Reason says why the step failed: its last window's failures.
	Reason string `json:"reason,omitempty"`
	// FailedWindows is how many consecutive windows failed (a failed step).
	FailedWindows int `json:"failed_windows,omitempty"`
	// Forgiven is why a window failed before the one that passed the step:
	// a stall the next window recovered from.
	Forgiven string `json:"forgiven,omitempty"`
}

// BacklogResult records the backlog mode's phases.
type BacklogResult struct {
	TargetBytes   int64   `json:"target_bytes"`
	BuiltBytes    int64   `json:"built_bytes"`
	BuildSeconds  float64 `json:"build_seconds"`
	DrainSeconds  float64 `json:"drain_seconds"`
	Drained       bool    `json:"drained"`
	LeftMessages  int64   `json:"left_messages"`
	DrainRate     float64 `json:"drain_rate"`
	DrainMBps     float64 `json:"drain_mb_s"`
	StopCondition string  `json:"stop_condition"`
}

// WriteFile writes r as indented JSON to path.
func (r *Result) WriteFile(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding result: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing result: %w", err)
	}
	return nil
}

// ReadResult reads a result file and checks its schema version.
func ReadResult(path string) (*Result, error) {
	var r Result
	if err := readJSON(path, "result", &r); err != nil {
		return nil, err
	}
	if r.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("result %s: schema_version %d, this lab reads %d: rerun the load or use a matching lab", path, r.SchemaVersion, SchemaVersion)
	}
	return &r, nil
}

// readJSON decodes the JSON file at path into v; what names the file's kind
// in errors ("result", "ceilings").
func readJSON(path, what string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decoding %s %s: %w", what, path, err)
	}
	return nil
}
