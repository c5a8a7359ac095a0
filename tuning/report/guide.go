package report

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/brokerlab/brokerlab/tuning"
	"github.com/brokerlab/brokerlab/tuning/stats"
)

// guide is everything WriteGuide prints, computed first.
type guide struct {
	a        *Analysis
	obj      tuning.Metric
	cs       *comparisons
	findings map[string][]finding // by dimension name
	checks   []check
	// overheadDim is the dimension turning the probes on and off ("" =
	// none); overhead compares its none level (base) with its all level
	// (cell), one pair per context.
	overheadDim string
	overhead    []ctxPair
}

type check struct {
	claim  claim
	dim    string
	metric tuning.Metric
	// prefer names the advised level.
	prefer string
	// pairs compare each advised-against level (base, named by the pair's
	// vs) with prefer, one per context.
	pairs []ctxPair
	// findings are the dimension's findings (anyLevel claims).
	findings []finding
}

type ctxPair struct {
	ctx string
	// vs names the level compared with a check's preferred one.
	vs string
	p  pair
}

// contexts returns the combinations of the other dimensions' levels under
// which dim's levels are compared: every combination in a full factorial
// plan (the reference one first), only the reference one otherwise.
func (a *Analysis) contexts(dim string) []map[string]string {
	ctxs := []map[string]string{{}}
	for _, d := range a.Plan.Matrix {
		if d.Name == dim {
			continue
		}
		levels := d.Levels
		if a.Plan.Design == tuning.DesignOneAtATime {
			levels = levels[:1]
		}
		var next []map[string]string
		for _, c := range ctxs {
			for _, l := range levels {
				n := maps.Clone(c)
				n[d.Name] = l.Name
				next = append(next, n)
			}
		}
		ctxs = next
	}
	return ctxs
}

// ctxLabel names a context by the dimensions not at their first level.
func (a *Analysis) ctxLabel(ctx map[string]string) string {
	var parts []string
	for _, d := range a.Plan.Matrix {
		if v, ok := ctx[d.Name]; ok && v != d.Levels[0].Name {
			parts = append(parts, d.Name+"="+v)
		}
	}
	return strings.Join(parts, ",")
}

// cellIn returns the cell of ctx with dim at level l.
func (a *Analysis) cellIn(ctx map[string]string, dim, l string) *CellResult {
	levels := maps.Clone(ctx)
	levels[dim] = l
	return a.find(levels)
}

func newGuide(a *Analysis) (*guide, error) {
	obj, err := tuning.MetricByKey(a.Plan.Objective)
	if err != nil {
		return nil, err
	}
	g := &guide{a: a, obj: obj, cs: &comparisons{by: map[[2]string]map[string]*stats.Comparison{}}, findings: map[string][]finding{}}
	for _, d := range a.Plan.Matrix {
		for _, ctx := range a.contexts(d.Name) {
			ref := a.cellIn(ctx, d.Name, d.Levels[0].Name)
			for _, l := range d.Levels[1:] {
				c := a.cellIn(ctx, d.Name, l.Name)
				if ref == nil || c == nil {
					continue
				}
				f := finding{level: l, ctx: a.ctxLabel(ctx), p: pair{ref, c}}
				g.cs.add(d.Name, f.p)
				g.findings[d.Name] = append(g.findings[d.Name], f)
			}
		}
	}
	for _, d := range a.Plan.Matrix {
		none, all := -1, -1
		for i, l := range d.Levels {
			switch tuning.Merge(a.Plan.Base, l.Settings).Probes {
			case tuning.ProbesNone:
				if none < 0 {
					none = i
				}
			case tuning.ProbesAll:
				if all < 0 {
					all = i
				}
			}
		}
		if none < 0 || all < 0 {
			continue
		}
		g.overheadDim = d.Name
		for _, ctx := range a.contexts(d.Name) {
			nc, ac := a.cellIn(ctx, d.Name, d.Levels[none].Name), a.cellIn(ctx, d.Name, d.Levels[all].Name)
			if nc != nil && ac != nil {
				cp := ctxPair{ctx: a.ctxLabel(ctx), p: pair{base: nc, cell: ac}}
				g.overhead = append(g.overhead, cp)
				g.cs.add(d.Name, cp.p)
			}
		}
		break
	}
	for _, cl := range claims {
		ch := check{claim: cl, metric: obj}
		if cl.metric != "" {
			ch.metric, _ = tuning.MetricByKey(cl.metric)
		}
		for _, d := range a.Plan.Matrix {
			settings := make([]tuning.Settings, len(d.Levels))
			for i, l := range d.Levels {
				settings[i] = tuning.Merge(a.Plan.Base, l.Settings)
			}
			pref, against, ok := cl.levels(settings)
			if !ok {
				continue
			}
			ch.dim = d.Name
			if cl.anyLevel {
				ch.findings = g.findings[d.Name]
				break
			}
			ch.prefer = d.Levels[pref].Name
			for _, ag := range against {
				vs := d.Levels[ag].Name
				for _, ctx := range a.contexts(d.Name) {
					pc, ac := a.cellIn(ctx, d.Name, ch.prefer), a.cellIn(ctx, d.Name, vs)
					if pc != nil && ac != nil {
						cp := ctxPair{ctx: a.ctxLabel(ctx), vs: vs, p: pair{base: ac, cell: pc}}
						ch.pairs = append(ch.pairs, cp)
						g.cs.add(d.Name, cp.p)
					}
				}
			}
			break
		}
		g.checks = append(g.checks, ch)
	}
	g.cs.compute()
	return g, nil
}

// WriteGuide writes the tuning guideline for ops as Markdown.
func WriteGuide(w io.Writer, a *Analysis) error {
	g, err := newGuide(a)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	g.write(bw)
	return bw.Flush()
}

func direction(m tuning.Metric) string {
	switch m.Direction {
	case tuning.HigherIsBetter:
		return "higher is better"
	case tuning.LowerIsBetter:
		return "lower is better"
	}
	return "evidence"
}

func (g *guide) write(w *bufio.Writer) {
	a := g.a
	p := a.Plan
	runs := 0
	for _, c := range a.Cells {
		runs += len(c.Files)
	}
	fmt.Fprintf(w, "# Tuning guideline: %s\n\n", p.Name)
	if p.Description != "" {
		fmt.Fprintf(w, "%s\n\n", p.Description)
	}
	fmt.Fprintf(w, "Generated from %d runs of %d cells (run files under `runs/`). Objective: **%s** (%s).\n\n", runs, len(a.Cells), g.obj.Title, direction(g.obj))
	fmt.Fprintf(w, "How to read the numbers: each value is the median of a cell's runs; a change is the change of the median "+
		"against the dimension's first level, with the other dimensions at their first levels, and a %d%% percentile-bootstrap "+
		"confidence interval of the ratio of medians (%d resamples). Significance: two-sided Mann-Whitney U test, alpha %.2f, "+
		"p-values Holm-corrected per knob: the family is every comparison of the same metric between levels of one dimension "+
		"(%s), not the whole guide, so each knob is answered as its own question; "+
		"\"~\" means not significant. Cells ran interleaved in an order shuffled every round (seed %d), %d repetitions, "+
		"%s warm-up and %s measured per run.\n\n",
		int(stats.Confidence*100), stats.BootstrapIterations, stats.Alpha, g.familySizes(), p.Seed, g.rounds(), p.Warmup, p.Measure)
	fmt.Fprintf(w, "A change is a **finding** only when it is significant after Holm and larger than the metric's practical threshold "+
		"(%s for %s; %s). A significant change below it, or one whose interval lies within it, is **no practical difference**; "+
		"anything else is **inconclusive**, stated with its minimal detectable effect (MDE): the farther end of the change's 95%% interval, "+
		"the largest difference the run could have missed. Only a finding for the better is ever recommended.\n\n",
		pct(g.threshold(g.obj)), g.obj.Title, g.thresholdNote())
	durability := "durability (the flush policy)"
	if g.a.Powercut != nil {
		durability = "durability (the flush policy: its section shows what a power cut loses at each level)"
	}
	fmt.Fprintf(w, "A recommendation weighs %s only. Where a knob trades something the numbers do not price — %s, "+
		"memory left to other services (memory limits), headroom — decide that part yourself; "+
		"the tables below show the other metrics, and `tables.md` every metric of every cell.\n\n", g.obj.Title, durability)
	if minRuns := g.minRuns(); minRuns < 6 {
		raise := "raise repetitions: in the plan"
		if inv := p.Invocation; inv != nil && inv.Stop != nil && inv.Stop.Reason == tuning.StopBudget {
			raise = "the sequential rule's time budget stopped the run; raise sequential.budget: in the plan, or run on a quieter machine"
		} else if p.Invocation != nil && p.Invocation.Reduced {
			raise = "run the plan without the command line's -repetitions override"
		}
		fmt.Fprintf(w, "**Too few runs for firm conclusions:** some cells have only %d runs. The Mann-Whitney U test cannot reach p < %.2f "+
			"with fewer than 4 runs per cell, and a 95%% interval of a median needs at least 6 (shown as ±∞); "+
			"%s.\n\n", minRuns, stats.Alpha, raise)
	}

	g.writeInvocation(w)

	fmt.Fprintf(w, "## Conditions\n\n")
	e := a.Env
	g.table(w, []string{"kernel", "CPU", "memory", "disk", "filesystem", "workload", "Go"},
		[][]string{{e.Kernel, fmt.Sprintf("%s (%d CPUs)", e.CPUModel, e.CPUs), fmt.Sprintf("%d MiB", e.MemTotalBytes>>20), e.Disk, e.Filesystem, e.Workload, e.GoVersion}})
	if a.Pinning != "" {
		fmt.Fprintf(w, "\nCPU pinning: %s.\n", a.Pinning)
	}
	fmt.Fprintf(w, "\nThe recommendations hold for this machine and this workload (`%s`, driver `%s`); re-run the plan on the production hardware before applying them there.\n\n", p.Workload, p.Driver)

	g.writeOverhead(w)

	fmt.Fprintf(w, "## Recommendations\n\n")
	var notSig []string
	if len(p.Matrix) == 0 {
		what := "The plan has no dimensions: it measures its base settings only."
		if inv := p.Invocation; inv != nil && len(inv.LeftOut) > 0 {
			what = fmt.Sprintf("Nothing to compare: this host left out every dimension (%s; see above), so the lab ran the baseline only. "+
				"Its numbers are in `tables.md`.", strings.Join(inv.LeftOut, ", "))
		}
		fmt.Fprintf(w, "%s\n\n", what)
	}
	for _, d := range p.Matrix {
		g.writeDimension(w, d, &notSig)
	}

	fmt.Fprintf(w, "## The seed's advice, checked\n\n")
	fmt.Fprintf(w, "Verdicts: **holds** (the advised setting is better, as a finding), **does not hold** (worse, as a finding), "+
		"**no practical difference** (any change is within the practical threshold), **inconclusive** (no finding, and the interval "+
		"still allows a practical change: the MDE says how large), **too few runs to tell** (fewer than %d runs per cell: "+
		"no difference can be significant, whatever the numbers), **not measurable here** (this host cannot show the effect: the evidence "+
		"says why and what it needs), **not measured** (the plan has no dimension for it: the evidence says what to add). "+
		"Restart time comes from the recovery bench in the result dir (`*-recovery/recovery.json`), not from the sweep.\n\n", MinTestableRuns)
	var rows [][]string
	for _, r := range g.seedRows() {
		rows = append(rows, []string{r.Advice, r.Source, r.Verdict, r.Evidence})
	}
	g.table(w, []string{"advice", "source", "verdict", "evidence"}, rows)
	fmt.Fprintln(w)

	fmt.Fprintf(w, "## Not findings\n\n")
	if len(notSig) == 0 {
		fmt.Fprintf(w, "Every level compared changed %s as a finding.\n\n", g.obj.Title)
	} else {
		if g.minRuns() < MinTestableRuns {
			fmt.Fprintf(w, "With %d runs per cell no level can change %s significantly, so these are numbers, not findings:\n\n", g.minRuns(), g.obj.Title)
		} else {
			fmt.Fprintf(w, "These levels did not change %s as a finding; each line says whether the change was within the practical "+
				"threshold or how large a change the run could have missed (the MDE):\n\n", g.obj.Title)
		}
		for _, s := range notSig {
			fmt.Fprintf(w, "- %s\n", s)
		}
		fmt.Fprintln(w)
	}

	var warn []string
	for _, c := range a.Cells {
		for _, f := range c.Files {
			for _, n := range c.Notes[f] {
				warn = append(warn, fmt.Sprintf("- %s (%s %s): %s", f, c.Cell.ID, c.Cell.Name, n))
			}
		}
	}
	if len(warn) > 0 {
		fmt.Fprintf(w, "## Run warnings\n\nThese runs did not go as the workload asked; their numbers are in the medians above, "+
			"but read the cells they belong to with care (a broker that cannot hold the rate measures its backlog, not its latency):\n\n%s\n\n",
			strings.Join(warn, "\n"))
	}

	g.writeApply(w)

	fmt.Fprintf(w, "## Run files\n\n")
	var frows [][]string
	for _, c := range a.Cells {
		frows = append(frows, []string{c.Cell.ID, c.Cell.Name, strings.Join(c.Files, ", ")})
	}
	g.table(w, []string{"cell", "levels", "files"}, frows)
}

// writeInvocation says how the run was made: the command, what it
// overrode (a reduced run is labelled as one) and what the host skipped.
func (g *guide) writeInvocation(w *bufio.Writer) {
	inv := g.a.Plan.Invocation
	if inv == nil {
		return
	}
	if inv.Reduced {
		fmt.Fprintf(w, "**Reduced run:** the command line shortened the plan (%s). Read this as a smoke test of the lab, "+
			"not as a measurement to tune by; run the plan as written for that.\n\n", strings.Join(inv.Overrides, "; "))
	} else if len(inv.Overrides) > 0 {
		fmt.Fprintf(w, "The command line changed the plan: %s.\n\n", strings.Join(inv.Overrides, "; "))
	}
	if len(inv.Skipped) > 0 {
		fmt.Fprintf(w, "**Skipped on this host** (the lab ran what it could without these privileges; the cells and tables below are what remained):\n\n")
		for _, s := range inv.Skipped {
			fmt.Fprintf(w, "- %s\n", s)
		}
		fmt.Fprintln(w)
	}
	if inv.Command != "" {
		fmt.Fprintf(w, "Command: `%s`\n\n", inv.Command)
	}
	if inv.Interrupted {
		fmt.Fprintf(w, "**Interrupted:** the run was stopped by a signal before its end; the cells have the runs that finished.\n\n")
	}
	g.writeStop(w)
}

// writeStop reports a sequential plan's stopping rule: why it stopped
// and the precision each targeted comparison reached.
func (g *guide) writeStop(w *bufio.Writer) {
	p := g.a.Plan
	q := p.Sequential
	if q == nil {
		return
	}
	stop := p.Invocation.Stop
	if stop == nil {
		fmt.Fprintf(w, "**Sequential rule:** the plan stops between rounds once its targets are met or its budget (%s) would be exceeded; "+
			"this run did not record how it stopped.\n\n", q.Budget)
		return
	}
	var why string
	switch stop.Reason {
	case tuning.StopTargetsMet:
		why = "every targeted comparison reached its precision"
	case tuning.StopBudget:
		why = fmt.Sprintf("the time budget (%s) would not fit another round; the targets below marked \"no\" were not reached, "+
			"so read their comparisons by their MDE", q.Budget)
	default:
		why = fmt.Sprintf("it ran all %d repetitions the plan allows", p.Repetitions)
	}
	fmt.Fprintf(w, "**Sequential rule:** interleaved rounds (every cell once per round, at least %d) until each targeted comparison's 95%% interval "+
		"of the ratio of medians has a half-width below its target, or the budget of %s. This run stopped after **%d rounds** in %s: %s.\n\n",
		q.MinRepetitions, q.Budget, stop.Rounds, stop.Elapsed, why)
	if len(stop.HalfWidths) > 0 {
		var rows [][]string
		for _, h := range stop.HalfWidths {
			met := "yes"
			if !(h.Value <= h.Target) {
				met = "no"
			}
			v := "∞"
			if !math.IsInf(h.Value, 0) && !math.IsNaN(h.Value) {
				v = fmt.Sprintf("±%.1f%%", 100*h.Value)
			}
			rows = append(rows, []string{h.Metric, h.Base, h.Cell, v, fmt.Sprintf("±%.0f%%", 100*h.Target), met})
		}
		g.table(w, []string{"metric", "base", "vs", "95% CI half-width", "target", "met"}, rows)
		fmt.Fprintln(w)
	}
}

// minRuns is the fewest runs any cell has.
func (g *guide) minRuns() int {
	n := -1
	for _, c := range g.a.Cells {
		if n < 0 || len(c.Files) < n {
			n = len(c.Files)
		}
	}
	return n
}

// summary is the cell's median ± CI of m.
func (c *CellResult) summary(m tuning.Metric) (string, bool) {
	v := c.Values[m.Key]
	if len(v) == 0 {
		return "", false
	}
	return summary(m, stats.Summarize(v)), true
}

func (g *guide) table(w io.Writer, header []string, rows [][]string) {
	t := tablewriter.NewTable(w,
		tablewriter.WithRenderer(renderer.NewMarkdown()),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithAlignment(slices.Repeat(tw.Alignment{tw.AlignLeft}, len(header))),
	)
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	h := make([]string, len(header))
	for i, s := range header {
		h[i] = esc(s)
	}
	t.Header(h)
	for _, r := range rows {
		er := make([]string, len(r))
		for i, s := range r {
			er[i] = esc(s)
		}
		_ = t.Append(er)
	}
	_ = t.Render()
}

// thresholdNote names the thresholds that differ from the default.
func (g *guide) thresholdNote() string {
	var parts []string
	for _, m := range tuning.Metrics {
		if t := g.threshold(m); t != stats.DefaultPracticalThreshold {
			why := "set by the plan"
			if _, ok := g.a.Plan.Thresholds[m.Key]; !ok && m.Threshold > 0 {
				why = "a log2 histogram cannot resolve less than one bucket"
			}
			parts = append(parts, fmt.Sprintf("%s %s (%s)", m.Title, pct(t), why))
		}
	}
	if len(parts) == 0 {
		return "every metric uses the default " + pct(stats.DefaultPracticalThreshold)
	}
	return "default " + pct(stats.DefaultPracticalThreshold) + "; " + strings.Join(parts, ", ")
}

// rounds is how many repetitions ran: the plan's, or where a sequential
// rule stopped.
func (g *guide) rounds() int {
	if inv := g.a.Plan.Invocation; inv != nil && inv.Stop != nil {
		return inv.Stop.Rounds
	}
	return g.a.Plan.Repetitions
}

// familySizes names each dimension's Holm family size: "fs 2 pairs,
// flush 3 pairs".
func (g *guide) familySizes() string {
	var parts []string
	for _, d := range g.a.Plan.Matrix {
		if n := g.cs.family(d.Name); n > 0 {
			unit := "pairs"
			if n == 1 {
				unit = "pair"
			}
			parts = append(parts, fmt.Sprintf("%s: %d %s of cells", d.Name, n, unit))
		}
	}
	if len(parts) == 0 {
		return "no pairs"
	}
	return strings.Join(parts, "; ")
}

// seedVerdict is a check's verdict from the plan's dimensions, then from
// what the guide read beside the runs.
func (g *guide) seedVerdict(ch check) (string, string) {
	verdict, ev := g.verdict(ch)
	if ch.claim.beside != nil {
		verdict, ev = ch.claim.beside(g, verdict, ev)
	}
	return verdict, ev
}
