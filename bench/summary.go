package bench

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/brokerlab/brokerlab/loadgen"
	"github.com/brokerlab/brokerlab/procsample"
	"github.com/brokerlab/brokerlab/tuning"
	"github.com/brokerlab/brokerlab/tuning/report"
	"github.com/brokerlab/brokerlab/tuning/stats"
)

// SummaryMaxLines bounds the closing summary: one screen.
const SummaryMaxLines = 30

// Summary is lab bench's closing summary: the figure each stage exists
// for, with its spread and what it compares with, what was not run and
// why, and where the files are. RunSuite prints it last on stdout and puts
// it at the top of the run's README.md. A nil stage result means the stage
// did not run (see Skipped and Failed).
type Summary struct {
	// RunDir is the run's directory, as the user named it.
	RunDir string
	// Env is the machine.
	Env procsample.Environment
	// Command is the command line; Note the user's remark on the
	// conditions (lab bench -note).
	Command, Note string
	// Ceilings are every measurement of the machine's ceilings, in order.
	Ceilings []*loadgen.Ceilings
	Versus   *VersusReport
	// LoadMax is the max-rate search and run, LoadHalf the run held at
	// half the maximum sustainable rate.
	LoadMax, LoadHalf *loadgen.Result
	Plan              *PlanOutcome
	// Skipped and Reduced are "stage: why"; Failed are the stages' errors.
	// Enable is the one command that runs what was skipped or reduced.
	Skipped, Reduced, Failed []string
	Enable                   string
	// Files are the run's files worth opening, relative to RunDir.
	Files []string
}

// PlanOutcome is a tuning plan's answer on its objective metric.
type PlanOutcome struct {
	// Name is the plan's name; Dir its result dir relative to the run's.
	Name, Dir string
	// Objective is the objective metric.
	Objective tuning.Metric
	// Cells are the cells that ran, the reference first.
	Cells []PlanCell
	// Verdicts are one sentence per cell compared with the reference
	// (stats.Comparison.Explain, Holm-corrected across the cells).
	Verdicts []string
}

// PlanCell is one cell's objective: median and 95% interval.
type PlanCell struct {
	Name    string
	Summary stats.Summary
}

// ReadPlanOutcome reads a sweep's result dir (plan.yaml and runs/) and
// compares every cell with the plan's reference cell on the objective.
func ReadPlanOutcome(dir string) (*PlanOutcome, error) {
	plan, err := tuning.LoadPlan(filepath.Join(dir, "plan.yaml"))
	if err != nil {
		return nil, err
	}
	recs, err := tuning.ReadRecords(dir)
	if err != nil {
		return nil, err
	}
	a, err := report.Analyze(plan, recs)
	if err != nil {
		return nil, err
	}
	m, err := tuning.MetricByKey(plan.Objective)
	if err != nil {
		return nil, err
	}
	out := &PlanOutcome{Name: plan.Name, Dir: filepath.Base(dir), Objective: m}
	ref := a.Reference()
	cells := slices.Clone(a.Cells)
	if ref != nil {
		cells = slices.DeleteFunc(cells, func(c *report.CellResult) bool { return c == ref })
		cells = append([]*report.CellResult{ref}, cells...)
	}
	var family []*stats.Comparison
	var names []string
	for _, c := range cells {
		vals := c.Values[m.Key]
		if len(vals) == 0 {
			continue
		}
		out.Cells = append(out.Cells, PlanCell{Name: c.Cell.Name, Summary: stats.Summarize(vals)})
		if ref == nil || c == ref || len(ref.Values[m.Key]) == 0 {
			continue
		}
		cmp := stats.Compare(ref.Values[m.Key], vals)
		family = append(family, &cmp)
		names = append(names, c.Cell.Name+" vs "+ref.Cell.Name)
	}
	stats.Holm(family)
	for i, c := range family {
		out.Verdicts = append(out.Verdicts, names[i]+": "+c.Explain(0))
	}
	return out, nil
}

// Render writes the summary in at most SummaryMaxLines lines of at most
// width columns (longer lines wrap), with no unbounded interval in it: a
// spread that cannot be computed is said in words.
func (s *Summary) Render(w io.Writer, width int) error {
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }

	add("== lab bench %s: summary (every table and chart: %s)", filepath.Base(s.RunDir), filepath.Join(s.RunDir, "README.md"))
	if e := s.Env; e.Kernel != "" {
		add("Machine: %s, %d CPUs, %.1f GiB, kernel %s, %s, host %s", orUnknown(e.CPUModel), e.CPUs,
			float64(e.MemTotalBytes)/(1<<30), e.Kernel, orUnknown(e.GoVersion), orUnknown(e.Hostname))
	}
	if s.Note != "" {
		add("Note: %s", s.Note)
	}

	send := ceilingSpread(s.Ceilings, func(c *loadgen.Ceilings) float64 { return c.SendfileMBps })
	if len(s.Ceilings) > 0 {
		tcp := ceilingSpread(s.Ceilings, func(c *loadgen.Ceilings) float64 { return c.TCPMBps })
		fsync := ceilingSpread(s.Ceilings, func(c *loadgen.Ceilings) float64 { return c.FsyncMBps })
		write := ceilingSpread(s.Ceilings, func(c *loadgen.Ceilings) float64 { return c.WriteMBps })
		fs := s.Ceilings[0]
		add("Ceilings (MB/s, median [min-max] of %d runs): loopback sendfile %s, TCP copy %s", len(s.Ceilings), send, tcp)
		add("  disk (%s on %s): write %s, write+fdatasync %s", orUnknown(fs.FSType), orUnknown(fs.Device), write, fsync)
	}

	if v := s.Versus; v != nil && len(v.Samples) >= 2 {
		// The first cell (make bench runs one: 1 KiB records, 1 partition).
		sums := map[string]VersusSummary{}
		var cell *VersusCell
		for _, x := range v.Summaries() {
			if cell == nil {
				cell = &x.Cell
			}
			if x.Cell == *cell {
				sums[x.Metric] = x
			}
		}
		add("Broker vs kfake (rdkafka_performance, %d interleaved pairs of %d x %d B, %d partition(s);",
			pairsOf(v), v.Records, cell.Size, cell.Partitions)
		add("  broker/kfake: median of the pairs' ratios, 95%% bootstrap CI, [min-max of the pairs]):")
		for _, k := range []string{"produce", "consume"} {
			x := sums[k+" MB/s"]
			line := fmt.Sprintf("  %-8s %s vs %s MB/s: %s", k, num(x.Broker), num(x.Kfake), ratioCI(x))
			if c, ok := sums[k+" server CPU s/GB"]; ok && c.Broker > 0 && c.Kfake > 0 {
				line += fmt.Sprintf("; server CPU %.2f vs %.2f s/GB: %s", c.Broker, c.Kfake, ratioCI(c))
			}
			add("%s", line)
		}
		if cons := sums["consume MB/s"]; len(s.Ceilings) > 0 && send.median > 0 {
			add("  fetch    %s", fetchShare(cons.Broker, send))
		}
	}

	if r := s.LoadMax; r != nil && r.RateSearch != nil {
		add("Load generator (franz-go; %s; driver %s):", r.Workload.Name, r.Driver.Name)
		add("  max sustainable rate %s", maxRate(r))
	}
	if r := s.LoadHalf; r != nil {
		held := fmt.Sprintf("held %.1f%%", 100*r.Verdict.AchievedRatio)
		if !r.Verdict.TargetHeld {
			held = fmt.Sprintf("NOT held: %.1f%% of it", 100*r.Verdict.AchievedRatio)
		}
		add("  at %.0f msg/s (half of max) for %.0f s, %s; p99 of the merged histogram [min-max of %.0f s windows]:",
			r.Aggregate.TargetRate, r.Aggregate.Seconds, held, r.WindowSeconds)
		add("    publish %s, end-to-end %s",
			p99Spread(r.Aggregate.PublishLatency, r.Windows, func(w loadgen.Window) loadgen.Quantiles { return w.PublishLatency }),
			p99Spread(r.Aggregate.EndToEnd, r.Windows, func(w loadgen.Window) loadgen.Quantiles { return w.EndToEnd }))
	}

	if p := s.Plan; p != nil {
		m := p.Objective
		runs := ""
		if len(p.Cells) > 0 {
			runs = fmt.Sprintf(", %d runs per cell", p.Cells[0].Summary.N)
		}
		add("Plan %s (%s/; objective %s, median ±95%% CI%s):", p.Name, p.Dir, m.Title, runs)
		var cells []string
		for _, c := range p.Cells {
			cells = append(cells, c.Name+" "+medianCI(m, c.Summary))
		}
		add("  %s", strings.Join(cells, "; "))
		for _, v := range p.Verdicts {
			add("  %s", v)
		}
		if len(p.Verdicts) == 0 {
			add("  one cell ran: nothing to compare it with")
		}
	}

	for _, f := range s.Failed {
		add("FAILED %s", f)
	}
	if len(s.Skipped)+len(s.Reduced) == 0 {
		add("Skipped: nothing; every stage ran in full.")
	} else {
		for _, x := range s.Skipped {
			add("Skipped %s", x)
		}
		for _, x := range s.Reduced {
			add("Reduced %s", x)
		}
		add("  to run them: %s", s.Enable)
	}
	if len(s.Files) > 0 {
		add("Files in %s: %s", s.RunDir, strings.Join(s.Files, ", "))
	}

	var out []string
	for _, l := range lines {
		out = append(out, report.Wrap(l, width)...)
	}
	if len(out) > SummaryMaxLines {
		out = append(out[:SummaryMaxLines-1], fmt.Sprintf("(%d more lines: see %s)", len(out)-SummaryMaxLines+1, filepath.Join(s.RunDir, "README.md")))
	}
	for _, l := range out {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}

// medianRange is a median with the range it came from.
type medianRange struct{ median, lo, hi float64 }

func (s medianRange) String() string {
	if s.lo == s.hi {
		return fmt.Sprintf("%.0f", s.median)
	}
	return fmt.Sprintf("%.0f [%.0f-%.0f]", s.median, s.lo, s.hi)
}

func ceilingSpread(cs []*loadgen.Ceilings, f func(*loadgen.Ceilings) float64) medianRange {
	var xs []float64
	for _, c := range cs {
		if v := f(c); v > 0 {
			xs = append(xs, v)
		}
	}
	if len(xs) == 0 {
		return medianRange{}
	}
	return medianRange{stats.Median(xs), slices.Min(xs), slices.Max(xs)}
}

// ratioCI is "1.79x (1.50-2.10) [1.44-3.16]": the median ratio, its
// bootstrap interval when there is one, and the pairs' range.
func ratioCI(x VersusSummary) string {
	out := fmt.Sprintf("%.2fx", x.Ratio)
	if x.CILo > 0 && x.CIHi > 0 && !math.IsInf(x.CIHi, 0) && !math.IsNaN(x.CILo) && !math.IsNaN(x.CIHi) {
		out += fmt.Sprintf(" (%.2f-%.2f)", x.CILo, x.CIHi)
	}
	return out + fmt.Sprintf(" [%.2f-%.2f]", x.RatioLo, x.RatioHi)
}

// fetchShare is the broker's fetch rate as a share of the sendfile
// ceiling, with the range the ceiling's own runs give it.
func fetchShare(broker float64, ceiling medianRange) string {
	share := func(c float64) float64 { return 100 * broker / c }
	s := fmt.Sprintf("%s MB/s = %.0f%% of the sendfile ceiling's median (%.0f%%-%.0f%% of its runs)",
		num(broker), share(ceiling.median), share(ceiling.hi), share(ceiling.lo))
	if share(ceiling.lo) > 100 {
		// The ceiling's own reader was slower than the broker's client in
		// that run: the ceiling bounded nothing there.
		s += "; over 100%: a run of the ceiling was slower than the broker"
	}
	return s
}

// maxRate is the searched maximum with the bracket the search ended on.
func maxRate(r *loadgen.Result) string {
	rs := r.RateSearch
	s := fmt.Sprintf("%.0f msg/s (%s MB/s)", rs.MaxSustainable, num(rs.MaxSustainable*float64(r.Workload.MessageSize)/1e6))
	fail := math.Inf(1)
	for _, st := range rs.Steps {
		if !st.OK && st.Rate > rs.MaxSustainable && st.Rate < fail {
			fail = st.Rate
		}
	}
	if !math.IsInf(fail, 1) {
		s += fmt.Sprintf(": passed at it, failed at %.0f msg/s (+%.0f%%)", fail, 100*(fail/rs.MaxSustainable-1))
	} else {
		s += ": no step failed within the search's time bound, so the maximum is at least this"
	}
	return s
}

// p99Spread is a run's p99 (its merged histogram) with the range of the
// measured windows' p99s.
func p99Spread(agg loadgen.Quantiles, ws []loadgen.Window, f func(loadgen.Window) loadgen.Quantiles) string {
	var xs []int64
	for _, w := range ws {
		if w.Phase == loadgen.PhaseMeasure && f(w).Count > 0 {
			xs = append(xs, f(w).P99Us)
		}
	}
	if agg.Count == 0 {
		return "not measured"
	}
	if len(xs) < 2 {
		return ms(agg.P99Us)
	}
	return fmt.Sprintf("%s [%s-%s]", ms(agg.P99Us), ms(slices.Min(xs)), ms(slices.Max(xs)))
}

// medianCI is "5.29 ms ±12%", or the median and why there is no interval.
func medianCI(m tuning.Metric, s stats.Summary) string {
	v := num(s.Center * m.Scale)
	if m.Unit != "" {
		v += " " + m.Unit
	}
	// PctRange, as tables.md shows it, when the interval is bounded.
	if hw := s.HalfWidth(); !math.IsInf(hw, 0) && !math.IsNaN(hw) {
		return v + " ±" + s.PctRange()
	}
	return fmt.Sprintf("%s (n=%d: an interval needs 6 runs)", v, s.N)
}

func ms(us int64) string {
	switch {
	case us >= 1_000_000:
		return fmt.Sprintf("%.2f s", float64(us)/1e6)
	case us >= 1000:
		return num(float64(us)/1000) + " ms"
	}
	return fmt.Sprintf("%d us", us)
}

func pairsOf(v *VersusReport) int {
	rounds := map[int]bool{}
	for _, s := range v.Samples {
		rounds[s.Round] = true
	}
	return len(rounds)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
