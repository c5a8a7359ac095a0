package report

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/brokerlab/brokerlab/procsample"
	"github.com/brokerlab/brokerlab/tuning"
	"github.com/brokerlab/brokerlab/tuning/stats"
)

// CellResult is every run of one cell.
type CellResult struct {
	// Cell is the plan's cell.
	Cell tuning.Cell
	// Files are the run files, relative to the result dir, in repetition
	// order.
	Files []string
	// Values maps a metric key to one value per run that measured it.
	Values map[string][]float64
	// Notes maps a run file to its warnings (the load generator did not
	// hold its target rate, ...).
	Notes map[string][]string
}

// Analysis is a sweep's runs grouped by cell.
type Analysis struct {
	// Plan is the plan the runs came from.
	Plan *tuning.Plan
	// Cells are the cells with at least one run, in the plan's order.
	Cells []*CellResult
	// Env is the environment of the runs (fields that differ between runs
	// read "varies: a, b").
	Env procsample.Environment
	// Pinning says where the broker and the load generator ran (the
	// runs' pinning records; "" when no run had any).
	Pinning string
	// Host, Recovery and Powercut are read beside the run files
	// (ReadBeside): the host's facts that make some advice unmeasurable
	// here, and the recovery bench and power-cut lab of the same result
	// dir. nil when not read.
	Host     *Host
	Recovery *Recovery
	Powercut *Powercut

	byID map[string]*CellResult
}

// Analyze groups records by the plan's cells. Records of cells the plan
// does not have are an error (a result dir mixing plans).
func Analyze(plan *tuning.Plan, records []tuning.Record) (*Analysis, error) {
	if plan == nil {
		return nil, errors.New("analyzing runs: no plan")
	}
	if len(records) == 0 {
		return nil, errors.New("analyzing runs: no run files")
	}
	a := &Analysis{Plan: plan, byID: map[string]*CellResult{}}
	cells := map[string]tuning.Cell{}
	for _, c := range plan.Cells() {
		cells[c.ID] = c
	}
	var errs []error
	for _, r := range records {
		c, ok := cells[r.Cell]
		if !ok || c.Name != r.CellName {
			errs = append(errs, fmt.Errorf("run file %s: cell %s %q is not in plan %s; was it written by another plan?", r.File, r.Cell, r.CellName, plan.Name))
			continue
		}
		cr := a.byID[r.Cell]
		if cr == nil {
			cr = &CellResult{Cell: c, Values: map[string][]float64{}, Notes: map[string][]string{}}
			a.byID[r.Cell] = cr
		}
		cr.Files = append(cr.Files, r.File)
		if len(r.Notes) > 0 {
			cr.Notes[r.File] = r.Notes
		}
		for _, m := range tuning.Metrics {
			if v, ok := m.Get(r.Measurement); ok {
				cr.Values[m.Key] = append(cr.Values[m.Key], v)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, c := range plan.Cells() {
		if cr := a.byID[c.ID]; cr != nil {
			a.Cells = append(a.Cells, cr)
		}
	}
	a.Env = mergeEnv(records)
	a.Pinning = mergePinning(records)
	return a, nil
}

func mergeEnv(records []tuning.Record) procsample.Environment {
	pick := func(get func(procsample.Environment) string) string {
		seen := map[string]bool{}
		for _, r := range records {
			seen[get(r.Environment)] = true
		}
		vals := slices.Sorted(maps.Keys(seen))
		if len(vals) == 1 {
			return vals[0]
		}
		return "varies: " + strings.Join(vals, ", ")
	}
	e := records[0].Environment
	e.Kernel = pick(func(e procsample.Environment) string { return e.Kernel })
	e.CPUModel = pick(func(e procsample.Environment) string { return e.CPUModel })
	e.Disk = pick(func(e procsample.Environment) string { return e.Disk })
	e.Filesystem = pick(func(e procsample.Environment) string { return e.Filesystem })
	e.Workload = pick(func(e procsample.Environment) string { return e.Workload })
	e.GoVersion = pick(func(e procsample.Environment) string { return e.GoVersion })
	return e
}

// Reference is the cell every dimension is at its first level in (the
// plan's first cell), if it has runs.
func (a *Analysis) Reference() *CellResult {
	return a.byID[a.Plan.Cells()[0].ID]
}

// find returns the cell whose levels equal levels.
func (a *Analysis) find(levels map[string]string) *CellResult {
	for _, c := range a.Cells {
		if maps.Equal(c.Cell.Levels, levels) {
			return c
		}
	}
	return nil
}

// compare compares metric m of cell b with cell base; ok is false when
// either lacks values.
func compare(base, b *CellResult, key string) (stats.Comparison, bool) {
	if base == nil || b == nil || len(base.Values[key]) == 0 || len(b.Values[key]) == 0 {
		return stats.Comparison{}, false
	}
	return stats.Compare(base.Values[key], b.Values[key]), true
}

// mergePinning describes the runs' CPU pinning: one phrase when every
// run had the same, else each with its count of runs.
func mergePinning(records []tuning.Record) string {
	count := map[string]int{}
	for _, r := range records {
		p := r.Pinning
		switch {
		case p == nil:
			continue
		case p.NotPinned != "":
			count["not pinned: "+p.NotPinned]++
		default:
			count[fmt.Sprintf("broker on CPU %v, load generator (the lab) on CPU %v (%s)", p.Broker, p.Load, p.Method)]++
		}
	}
	keys := slices.Sorted(maps.Keys(count))
	if len(keys) == 1 && count[keys[0]] == len(records) {
		return keys[0]
	}
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s in %d of %d runs", k, count[k], len(records)))
	}
	return strings.Join(parts, "; ")
}
