package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/brokerlab/brokerlab/procsample"
	"github.com/brokerlab/brokerlab/tuning"
	"github.com/brokerlab/brokerlab/tuning/stats"
)

// What a guide reads beside its run files: the recovery bench and the
// power-cut lab (beside_powercut.go) that make tune runs into the same
// result dir, and the facts of the host that make some of the seed's
// advice impossible to measure here.

// Host is what the guide needs to know about the machine the plan ran on
// to say why a piece of advice cannot be measured on it: the run's
// environment records it (procsample.HostCaps).
type Host = procsample.HostCaps

// hostOf is the host facts the run's records carry, or, for a run recorded
// before records kept them, rendering (the facts of the host rendering the
// guide) marked as such.
func hostOf(recs []tuning.Record, rendering Host) Host {
	for _, r := range recs {
		if h := r.Environment.Host; h != nil {
			return *h
		}
	}
	rendering.Rendering = true
	return rendering
}

// thisHost names the host whose facts h are, for the guide's reasons.
func thisHost(h *Host) string {
	if h.Rendering {
		return "the host reading the run (the run did not record its own)"
	}
	return "this host"
}

// Recovery is the restart timing of lab recovery: seconds to serve by
// num.recovery.threads.per.data.dir, cold and warm page cache.
type Recovery struct {
	// File is the recovery.json, relative to the result dir.
	File string
	// Base and Threads are the thread counts compared: the first and the
	// last of the bench's.
	Base, Threads int
	// Partitions and LogBytes describe the log that was recovered.
	Partitions int
	LogBytes   int64
	// Cold and Warm compare Threads with Base (seconds to serve), Holm
	// corrected as one family; nil where a side has no runs.
	Cold, Warm *stats.Comparison
}

// recoveryFile is the part of lab recovery's recovery.json the guide reads.
type recoveryFile struct {
	Report struct {
		Config struct {
			Threads []int `json:"threads"`
		} `json:"config"`
		Data struct {
			Partitions   int   `json:"partitions"`
			LogFileBytes int64 `json:"log_file_bytes"`
		} `json:"data"`
		Runs []recoveryRun `json:"runs"`
	} `json:"report"`
}

// recoveryRun is one measured start in recovery.json.
type recoveryRun struct {
	Threads int     `json:"threads"`
	Cache   string  `json:"cache"`
	Seconds float64 `json:"seconds"`
}

// ReadRecovery reads the newest dir/*-recovery/recovery.json; nil, nil
// when there is none.
func ReadRecovery(dir string) (*Recovery, error) {
	path, err := newestBeside(dir, "*-recovery", "recovery.json")
	if err != nil || path == "" {
		return nil, err
	}
	var f recoveryFile
	if err := readJSON(path, &f); err != nil {
		return nil, err
	}
	th := f.Report.Config.Threads
	if len(th) < 2 {
		return nil, fmt.Errorf("%s: compares %d thread counts, want at least 2", path, len(th))
	}
	r := &Recovery{File: relTo(dir, path), Base: th[0], Threads: th[len(th)-1],
		Partitions: f.Report.Data.Partitions, LogBytes: f.Report.Data.LogFileBytes}
	secs := func(threads int, cache string) []float64 {
		var out []float64
		for _, run := range f.Report.Runs {
			if run.Threads == threads && run.Cache == cache && run.Seconds > 0 {
				out = append(out, run.Seconds)
			}
		}
		return out
	}
	byCache := func(cache string) *stats.Comparison {
		base, n := secs(r.Base, cache), secs(r.Threads, cache)
		if len(base) == 0 || len(n) == 0 {
			return nil
		}
		c := stats.Compare(base, n)
		return &c
	}
	r.Cold, r.Warm = byCache("cold"), byCache("warm")
	var family []*stats.Comparison
	for _, side := range r.sides() {
		family = append(family, side.c)
	}
	stats.Holm(family)
	return r, nil
}

// ReadBeside reads what the guide of the result dir needs beside its run
// files: the host (h) and dir's recovery bench and power-cut lab, if any.
func (a *Analysis) ReadBeside(dir string, h Host) error {
	a.Host = &h
	r, err := ReadRecovery(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	a.Recovery = r
	p, err := ReadPowercut(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	a.Powercut = p
	return nil
}

// AnalyzeDir analyzes the run files of result dir dir (Analyze) and reads
// what lies beside them (ReadBeside) with the host facts the run recorded;
// rendering, the facts of the host rendering the report, stands in for a
// run from before runs recorded them.
func AnalyzeDir(dir string, plan *tuning.Plan, rendering Host) (*Analysis, error) {
	recs, err := tuning.ReadRecords(dir)
	if err != nil {
		return nil, err
	}
	a, err := Analyze(plan, recs)
	if err != nil {
		return nil, err
	}
	if err := a.ReadBeside(dir, hostOf(recs, rendering)); err != nil {
		return nil, err
	}
	return a, nil
}

// newestBeside is the newest file name in a directory matching pattern
// under dir (result dirs are named by their UTC start, so the newest sorts
// last); "" when there is none.
func newestBeside(dir, pattern, name string) (string, error) {
	files, err := filepath.Glob(filepath.Join(dir, pattern, name))
	if err != nil || len(files) == 0 {
		return "", err
	}
	return slices.Max(files), nil
}

// relTo is path relative to dir, with forward slashes, as a guide names
// its sources.
func relTo(dir, path string) string {
	if rel, err := filepath.Rel(dir, path); err == nil {
		path = rel
	}
	return filepath.ToSlash(path)
}

// readJSON decodes the JSON file at path into v.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}
