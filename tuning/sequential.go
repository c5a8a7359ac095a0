package tuning

import (
	"fmt"
	"math"
	"time"

	"github.com/brokerlab/brokerlab/tuning/stats"
)

// Stop reasons of a sequential plan (StopReport.Reason).
const (
	StopTargetsMet     = "targets met"
	StopBudget         = "time budget"
	StopMaxRepetitions = "max repetitions"
)

// precision computes the targeted comparisons' half-widths from the
// records so far.
func precision(p *Plan, records []Record) []HalfWidth {
	if p.Sequential == nil {
		return nil
	}
	values := map[string]map[string][]float64{} // cell -> metric -> values
	for _, r := range records {
		if values[r.Cell] == nil {
			values[r.Cell] = map[string][]float64{}
		}
		for _, t := range p.Sequential.Targets {
			m, _ := MetricByKey(t.Metric)
			if v, ok := m.Get(r.Measurement); ok {
				values[r.Cell][t.Metric] = append(values[r.Cell][t.Metric], v)
			}
		}
	}
	var out []HalfWidth
	for _, t := range p.Sequential.Targets {
		for _, pair := range p.Comparisons() {
			if !matches(pair[0], t.Where) || !matches(pair[1], t.Where) {
				continue
			}
			hw := math.Inf(1)
			base, cell := values[pair[0].ID][t.Metric], values[pair[1].ID][t.Metric]
			if len(base) > 0 && len(cell) > 0 {
				hw = stats.Compare(base, cell).HalfWidth()
			}
			out = append(out, HalfWidth{Metric: t.Metric, Base: pair[0].ID + " " + pair[0].Name, Cell: pair[1].ID + " " + pair[1].Name,
				Value: hw, Target: t.HalfWidth})
		}
	}
	return out
}

func matches(c Cell, where map[string]string) bool {
	for k, v := range where {
		if c.Levels[k] != v {
			return false
		}
	}
	return true
}

// sequentialStop decides, before round next (from 1), whether a
// sequential plan stops: after MinRepetitions rounds once every target is
// met, or when another round at the slowest pace so far would end past the
// budget. It returns "" to go on.
func sequentialStop(p *Plan, records []Record, next int, elapsed, slowestRound time.Duration) (reason string, hw []HalfWidth) {
	q := p.Sequential
	done := next - 1
	if q == nil {
		return "", nil
	}
	hw = precision(p, records)
	if done >= q.MinRepetitions {
		met := len(hw) > 0
		for _, h := range hw {
			met = met && h.Value <= h.Target
		}
		if met {
			return StopTargetsMet, hw
		}
	}
	if done > 0 && elapsed+slowestRound > q.Budget {
		return StopBudget, hw
	}
	return "", hw
}

// describeHalfWidths is one line for the progress output.
func describeHalfWidths(hw []HalfWidth) string {
	s := ""
	for i, h := range hw {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %s vs %s ±%.0f%% (target ±%.0f%%)", h.Metric, cellID(h.Cell), cellID(h.Base), 100*h.Value, 100*h.Target)
	}
	return s
}

func cellID(s string) string {
	for i, c := range s {
		if c == ' ' {
			return s[:i]
		}
	}
	return s
}
