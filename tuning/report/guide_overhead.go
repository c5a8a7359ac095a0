package report

import (
	"bufio"
	"fmt"
	"math"

	"github.com/brokerlab/brokerlab/tuning"
	"github.com/brokerlab/brokerlab/tuning/stats"
)

// The probe-overhead section: every probe attached against none.

// ProbeOverheadTarget is the throughput the probes may cost (issue
// "Probes": at most 2%).
const ProbeOverheadTarget = 0.02

// MinOverheadPairs is the fewest runs per side the overhead verdict needs
// (issue "Probes": at least 5 interleaved pairs); below it a bootstrap
// interval is too narrow to trust (with 1 run per side it is a point).
const MinOverheadPairs = 5

// writeOverhead writes the probe overhead section: throughput and publish
// p99 with every probe attached against none, per context, with the ratio
// of medians, its bootstrap interval and the verdict against the target.
func (g *guide) writeOverhead(w *bufio.Writer) {
	if g.overheadDim == "" {
		return
	}
	fmt.Fprintf(w, "## Probe overhead\n\n")
	fmt.Fprintf(w, "Dimension %s runs the broker with every eBPF probe attached (all) and with none, interleaved. "+
		"Target: the probes cost at most %.0f%% of throughput. A ratio is all over none, with its %d%% bootstrap interval; "+
		"the verdict holds only when the whole interval is on one side of the target. Throughput means the broker's capacity "+
		"only when the workload runs at max rate (producerRate: 0); at a fixed rate it shows whether the rate was held.\n\n",
		g.overheadDim, 100*ProbeOverheadTarget, int(stats.Confidence*100))
	if len(g.overhead) == 0 {
		fmt.Fprintf(w, "Not measured: the runs of the cells with and without probes are missing.\n\n")
		return
	}
	header, rows := g.overheadRows()
	g.table(w, header, rows)
	fmt.Fprintln(w)
}

// overheadRows is the probe overhead table: per context, both cells'
// throughput and publish p99, the ratios all/none with their intervals and
// the verdict against ProbeOverheadTarget.
func (g *guide) overheadRows() ([]string, [][]string) {
	tp, _ := tuning.MetricByKey("throughput")
	p99, _ := tuning.MetricByKey("publish_p99")
	ratio := func(c *stats.Comparison) string {
		if c == nil {
			return "n/a"
		}
		return fmt.Sprintf("%.3f (%s, p=%.3f)", c.Ratio, ratioInterval(c), c.AdjustedP)
	}
	med := func(m tuning.Metric, c *CellResult) string {
		if s, ok := c.summary(m); ok {
			return s
		}
		return "n/a"
	}
	var rows [][]string
	for _, cp := range g.overhead {
		ctx := cp.ctx
		if ctx == "" {
			ctx = "reference"
		}
		ct, cl := g.cs.get(cp.p, tp.Key), g.cs.get(cp.p, p99.Key)
		rows = append(rows, []string{ctx, cp.p.base.Cell.ID + " / " + cp.p.cell.Cell.ID,
			med(tp, cp.p.base), med(tp, cp.p.cell), ratio(ct),
			med(p99, cp.p.base), med(p99, cp.p.cell), ratio(cl), overheadVerdict(ct)})
	}
	return []string{"with", "cells none / all", "throughput none (MB/s)", "throughput all (MB/s)", "throughput ratio (95% CI)",
		"publish p99 none (ms)", "publish p99 all (ms)", "p99 ratio (95% CI)", "verdict"}, rows
}

// ratioInterval is "0.981 to 1.004", or "no interval".
func ratioInterval(c *stats.Comparison) string {
	if math.IsNaN(c.RatioLo) || math.IsNaN(c.RatioHi) {
		return "no interval"
	}
	return fmt.Sprintf("%.3f to %.3f", c.RatioLo, c.RatioHi)
}

// overheadVerdict judges the throughput ratio (all over none) against
// ProbeOverheadTarget by its bootstrap interval.
func overheadVerdict(c *stats.Comparison) string {
	floor := 1 - ProbeOverheadTarget
	switch {
	case c == nil:
		return "not measured"
	case min(c.Base.N, c.New.N) < MinOverheadPairs:
		return fmt.Sprintf("too few runs to tell: %d per side, the issue asks for at least %d pairs", min(c.Base.N, c.New.N), MinOverheadPairs)
	case math.IsNaN(c.RatioLo) || math.IsNaN(c.RatioHi):
		return "no interval"
	case c.RatioLo >= floor:
		return fmt.Sprintf("within target: cost at most %.1f%%", 100*max(0, 1-c.RatioLo))
	case c.RatioHi < floor:
		return fmt.Sprintf("over target: cost at least %.1f%%", 100*(1-c.RatioHi))
	}
	return fmt.Sprintf("undecided: cost between %.1f%% and %.1f%%; more pairs narrow it", 100*max(0, 1-c.RatioHi), 100*(1-c.RatioLo))
}
