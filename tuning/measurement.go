package tuning

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/brokerlab/brokerlab/internal/profiling"
	"github.com/brokerlab/brokerlab/loadgen"
	"github.com/brokerlab/brokerlab/procsample"
)

// Measurement is what one run (one repetition of one cell) measured: the
// load generator's numbers and the probes' evidence. Times are in seconds,
// rates per second, shares from 0 to 1. Probe fields are nil when the probe
// could not run (not measured, as opposed to zero).
type Measurement struct {
	// ThroughputMsgs is the consumed (or, without consumers, acknowledged)
	// message rate during the measure phase.
	ThroughputMsgs float64 `json:"throughput_msgs_per_second"`
	// ThroughputBytes is the same in payload bytes per second.
	ThroughputBytes float64 `json:"throughput_bytes_per_second"`
	// PublishP50, PublishP99, PublishP999 are publish-latency quantiles
	// (send to ack), measured against the intended send time.
	PublishP50  float64 `json:"publish_p50_seconds"`
	PublishP99  float64 `json:"publish_p99_seconds"`
	PublishP999 float64 `json:"publish_p999_seconds"`
	// E2EP99 is the end-to-end (send to consume) latency p99.
	E2EP99 float64 `json:"e2e_p99_seconds"`
	// FsyncP50 and FsyncP99 are the broker's fsync/fdatasync latencies.
	FsyncP50 *float64 `json:"fsync_p50_seconds,omitempty"`
	FsyncP99 *float64 `json:"fsync_p99_seconds,omitempty"`
	// PageCacheHitRate is the share of the broker's page-cache lookups that
	// hit.
	PageCacheHitRate *float64 `json:"page_cache_hit_ratio,omitempty"`
	// SwapIns counts the broker's swap-ins during the measure phase.
	SwapIns *float64 `json:"swap_ins,omitempty"`
	// SendBufFull is the share of the broker's socket sends that found the
	// send buffer full (EAGAIN).
	SendBufFull *float64 `json:"send_buffer_full_ratio,omitempty"`
	// SendfileShare is the share of fetched bytes sent with sendfile(2).
	SendfileShare *float64 `json:"sendfile_ratio,omitempty"`
	// CeilingBytes is the ceiling this run is measured against (the disk's
	// or loopback's measured maximum, bytes per second); 0 = unknown.
	CeilingBytes float64 `json:"ceiling_bytes_per_second,omitempty"`
	// Proc is the /proc window over warm-up and measure (procsample):
	// host swap-ins and page-cache figures (vmstat, meminfo) and the
	// broker's faults and RSS. It is recorded with or without the probes,
	// so a run without BPF still has swap and page-cache evidence, and a
	// run with BPF has its cross-check.
	Proc *procsample.Sample `json:"proc,omitempty"`
	// Produced is what the load generator had acknowledged over the same
	// window as Proc (every phase of the run), the denominator of the
	// broker's CPU per GB and per million records. Runs recorded before
	// it existed get it from their load generator result (ReadRecords).
	Produced *Produced `json:"produced,omitempty"`
}

// Produced counts acknowledged payload bytes and records.
type Produced struct {
	Bytes   int64 `json:"bytes"`
	Records int64 `json:"records"`
}

// producedOf is what res's producers had acknowledged in every window
// (warm-up, measure and tail): the window the runner's /proc sample spans.
func producedOf(res *loadgen.Result) *Produced {
	p := &Produced{Records: res.Totals.Acked}
	for _, w := range res.Windows {
		p.Bytes += w.PublishBytes
	}
	return p
}

// cpuPart selects user, system or all of the broker's CPU time.
type cpuPart int

const (
	cpuTotal cpuPart = iota
	cpuUser
	cpuSystem
)

// perUnit selects the denominator of a CPU cost: produced bytes or records.
type perUnit int

const (
	perByte perUnit = iota
	perRecord
)

// brokerCPUPer is the broker's CPU seconds (part of them) over the Proc
// window per byte or per record produced in it; false when the window or
// the produced counts are missing, or nothing was produced.
func (m Measurement) brokerCPUPer(part cpuPart, per perUnit) (float64, bool) {
	if m.Proc == nil || m.Proc.Process == nil || m.Produced == nil {
		return 0, false
	}
	p := m.Proc.Process
	secs := p.UserSeconds + p.SystemSeconds
	switch part {
	case cpuUser:
		secs = p.UserSeconds
	case cpuSystem:
		secs = p.SystemSeconds
	}
	n := m.Produced.Bytes
	if per == perRecord {
		n = m.Produced.Records
	}
	if n <= 0 {
		return 0, false
	}
	return secs / float64(n), true
}

// Record is one run file: runs/<cell>-r<repetition>.json in a result dir.
type Record struct {
	// Plan is the plan's name.
	Plan string `json:"plan"`
	// Cell is the cell's ID ("c03"); CellName its levels ("fs=xfs").
	Cell     string `json:"cell"`
	CellName string `json:"cell_name"`
	// Levels maps each dimension to the cell's level.
	Levels map[string]string `json:"levels"`
	// Repetition counts from 1.
	Repetition int `json:"repetition"`
	// Order is the run's position in the whole schedule, from 1.
	Order int `json:"order"`
	// Start is when the measure phase started.
	Start time.Time `json:"start"`
	// Settings are the cell's effective settings.
	Settings Settings `json:"settings"`
	// Environment describes the machine.
	Environment procsample.Environment `json:"environment"`
	// Measurement is what was measured.
	Measurement Measurement `json:"measurement"`
	// LoadgenResult names the load generator's own result file, if any.
	LoadgenResult string `json:"loadgen_result,omitempty"`
	// Profiles are the broker's pprof profiles of the measured window,
	// relative to the result dir (RunnerConfig.Profiles).
	Profiles []profiling.File `json:"profiles,omitempty"`
	// Broker names the broker under test (RunnerConfig.BrokerName).
	Broker string `json:"broker,omitempty"`
	// Pinning says which CPUs the broker and the load generator were held
	// to (a plan's affinity:), or why not.
	Pinning *Pinning `json:"pinning,omitempty"`
	// Notes are warnings about the run (the load generator did not hold
	// its target rate, errors).
	Notes []string `json:"notes,omitempty"`

	// File is the path the record was read from, relative to the result
	// dir (not stored).
	File string `json:"-"`
}

// NewRecord is the record of run, a run of p's schedule, measuring m:
// what the plan and the run say (plan, cell, levels, repetition, order,
// settings) and File as WriteRecord names it. The runner adds when the
// run started, the environment and the rest of what it saw.
func NewRecord(p *Plan, run Run, m Measurement) Record {
	return Record{Plan: p.Name, Cell: run.Cell.ID, CellName: run.Cell.Name, Levels: run.Cell.Levels,
		Repetition: run.Round, Order: run.Order, Settings: run.Cell.Settings, Measurement: m,
		File: RunFileName(run.Cell.ID, run.Round)}
}

// RunFileName is the run file of a cell's repetition, relative to the
// result dir.
func RunFileName(cell string, rep int) string {
	return filepath.Join("runs", fmt.Sprintf("%s-r%d.json", cell, rep))
}

// WriteRecord writes r to dir/RunFileName(...) atomically.
func WriteRecord(dir string, r Record) (string, error) {
	rel := RunFileName(r.Cell, r.Repetition)
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", filepath.Dir(p), err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encoding run %s: %w", rel, err)
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("renaming %s: %w", tmp, err)
	}
	return rel, nil
}

// readProduced reads what a load generator result file says was produced;
// nil when the file is gone (the run's CPU per GB is then not measured).
// Only the windows and totals matter here, so the rest of the file is not
// checked.
func readProduced(path string) (*Produced, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading what was produced: %w", err)
	}
	var res loadgen.Result
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("decoding load generator result %s: %w", path, err)
	}
	return producedOf(&res), nil
}

// ReadRecords reads every run file under dir/runs, sorted by cell and
// repetition; each Record's File is set. A run recorded before
// Measurement.Produced existed gets it from its load generator result
// (readProduced).
func ReadRecords(dir string) ([]Record, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "runs", "*.json"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("reading runs: no run files in %s", filepath.Join(dir, "runs"))
	}
	var out []Record
	var errs []error
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var r Record
		if err := json.Unmarshal(b, &r); err != nil {
			errs = append(errs, fmt.Errorf("decoding %s: %w", p, err))
			continue
		}
		r.File, _ = filepath.Rel(dir, p)
		if r.Measurement.Produced == nil && r.LoadgenResult != "" {
			if r.Measurement.Produced, err = readProduced(filepath.Join(dir, r.LoadgenResult)); err != nil {
				errs = append(errs, fmt.Errorf("run file %s: %w", r.File, err))
				continue
			}
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Record) int {
		if a.Cell != b.Cell {
			if a.Cell < b.Cell {
				return -1
			}
			return 1
		}
		return a.Repetition - b.Repetition
	})
	return out, errors.Join(errs...)
}
