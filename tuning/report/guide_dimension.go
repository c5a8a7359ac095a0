package report

import (
	"bufio"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/brokerlab/brokerlab/tuning"
	"github.com/brokerlab/brokerlab/tuning/stats"
)

// One section per swept dimension: the comparison table, the verdicts and
// the kernel-level evidence behind them.

// verdictOf classifies a comparison on metric m with practical threshold
// t (stats.Classify): "better" and "worse" are findings only, significant
// after Holm and larger than t; the rest say why they are not.
func verdictOf(m tuning.Metric, c *stats.Comparison, t float64) string {
	if c == nil {
		return "not measured"
	}
	switch c.Classify(t) {
	case stats.Finding:
		if better(m, *c) {
			return "better"
		}
		return "worse"
	case stats.NoPracticalDifference:
		return noPractical
	case stats.Inconclusive:
		return inconclusive
	}
	return tooFew
}

// The verdicts of comparisons that are not findings.
const (
	// noPractical: the change is within the practical threshold (or its
	// interval is).
	noPractical = "no practical difference"
	// inconclusive: not significant, and the interval still allows a
	// practical change; the MDE says how large.
	inconclusive = "inconclusive"
)

// threshold is metric m's practical threshold in this guide's plan.
func (g *guide) threshold(m tuning.Metric) float64 { return g.a.Plan.ThresholdOf(m) }

// verdict is verdictOf with the plan's threshold for m.
func (g *guide) verdictOf(m tuning.Metric, c *stats.Comparison) string {
	return verdictOf(m, c, g.threshold(m))
}

// explain is the table's verdict cell: the verdict, with the MDE where
// the comparison found nothing.
func (g *guide) explain(m tuning.Metric, c *stats.Comparison) string {
	v := g.verdictOf(m, c)
	switch v {
	case inconclusive:
		return fmt.Sprintf("inconclusive: %s", c.Undetectable())
	case noPractical:
		return fmt.Sprintf("%s (within ±%s)", v, pct(g.threshold(m)))
	case tooFew:
		return fmt.Sprintf("%s (n=%d+%d; the U test needs %d a side)", v, c.Base.N, c.New.N, MinTestableRuns)
	}
	return v
}

// pct formats a fraction as a percentage without needless decimals: "5%".
func pct(f float64) string { return strconv.FormatFloat(100*f, 'f', -1, 64) + "%" }

// MinTestableRuns is the fewest runs per cell with which the two-sided
// Mann-Whitney U test can reach p < 0.05 at all (4 and 4: p = 0.029; 3
// and 3: p = 0.1).
const MinTestableRuns = 4

// tooFew is the verdict of a comparison with fewer than MinTestableRuns
// runs on a side: not "not significant", which would read as evidence of
// no effect, but untestable.
const tooFew = "too few runs"

// with names a context for prose: "" for the reference context.
func with(ctx string) string {
	if ctx == "" {
		return ""
	}
	return " (with " + ctx + ")"
}

func (g *guide) writeDimension(w *bufio.Writer, d tuning.Dimension, notSig *[]string) {
	fs := g.findings[d.Name]
	ref := d.Levels[0].Name
	fmt.Fprintf(w, "### %s\n\n", d.Name)
	if len(fs) == 0 {
		fmt.Fprintf(w, "Not measured: the runs of the cells needed to compare the levels of %s with %s are missing.\n\n", d.Name, ref)
		return
	}
	best, worse := g.recommendation(fs)
	if best != nil {
		var where []string
		for _, f := range best.better {
			c := g.cs.get(f.p, g.obj.Key)
			ctx := "at the reference levels"
			if f.ctx != "" {
				ctx = "with " + f.ctx
			}
			where = append(where, fmt.Sprintf("%s %s → %s %s, %s (95%% CI %s, p=%.3f after Holm)",
				g.obj.Title, withUnit(g.obj, c.Base.Center), withUnit(g.obj, c.New.Center), ctx, c.Delta(), c.RatioCI(), c.AdjustedP))
		}
		anywhere := ""
		if slices.ContainsFunc(fs, func(f finding) bool { return f.ctx != "" }) {
			anywhere = "; not worse (as a finding) with any level of the other knobs"
		}
		fmt.Fprintf(w, "**Recommended: %s = %s** — %s, vs %s = %s%s.\n\n",
			d.Name, best.level, strings.Join(where, "; "), d.Name, ref, anywhere)
		g.caveats(w, best.better[0].p)
	} else {
		g.writeKeep(w, d, fs, worse)
	}
	// Where another context gives another verdict, the knob interacts
	// with the other dimensions: say so.
	refVerdict := map[string]string{}
	for _, f := range fs {
		if f.ctx == "" {
			refVerdict[f.level.Name] = g.verdictOf(g.obj, g.cs.get(f.p, g.obj.Key))
		}
	}
	var depends []string
	for _, f := range fs {
		if v := g.verdictOf(g.obj, g.cs.get(f.p, g.obj.Key)); f.ctx != "" && v != refVerdict[f.level.Name] {
			depends = append(depends, fmt.Sprintf("%s is %s with %s (%s at the reference levels)", f.level.Name, v, f.ctx, refVerdict[f.level.Name]))
		}
	}
	if len(depends) > 0 {
		fmt.Fprintf(w, "It depends on the other knobs: %s.\n\n", strings.Join(depends, "; "))
	}

	multi := slices.ContainsFunc(fs, func(f finding) bool { return f.ctx != "" })
	var rows [][]string
	row := func(level, ctx string, cells ...string) {
		r := []string{level}
		if multi {
			if ctx == "" {
				ctx = "reference"
			}
			r = append(r, ctx)
		}
		rows = append(rows, append(r, cells...))
	}
	lastRef := ""
	var cells []*CellResult
	for _, f := range fs {
		if f.p.base.Cell.ID != lastRef {
			lastRef = f.p.base.Cell.ID
			cells = append(cells, f.p.base)
			if s, ok := f.p.base.summary(g.obj); ok {
				row(ref+" (reference)", f.ctx, f.p.base.Cell.ID, s, "", "", "")
			}
		}
		cells = append(cells, f.p.cell)
		c := g.cs.get(f.p, g.obj.Key)
		if c == nil {
			row(f.level.Name, f.ctx, f.p.cell.Cell.ID, "n/a", "", "", "not measured")
			continue
		}
		if v := g.verdictOf(g.obj, c); v != "better" && v != "worse" {
			*notSig = append(*notSig, fmt.Sprintf("%s = %s vs %s%s: %s %s → %s (95%% CI %s, p=%.3f; %s vs %s): %s",
				d.Name, f.level.Name, ref, with(f.ctx), g.obj.Title, withUnit(g.obj, c.Base.Center), withUnit(g.obj, c.New.Center),
				c.RatioCI(), c.AdjustedP, f.p.base.Cell.ID, f.p.cell.Cell.ID, g.explain(g.obj, c)))
		}
		row(f.level.Name, f.ctx, f.p.cell.Cell.ID, summary(g.obj, c.New),
			c.Delta()+" ("+c.RatioCI()+")", fmt.Sprintf("%.3f", c.AdjustedP), g.explain(g.obj, c))
	}
	header := []string{"level"}
	if multi {
		header = append(header, "with")
	}
	header = append(header, "cell", g.obj.Title+" ("+g.obj.Unit+")", "change vs "+ref+" (95% CI)", "p (Holm)", "verdict")
	g.table(w, header, rows)
	fmt.Fprintln(w)
	g.writePowercut(w, d)
	// Probe evidence: what moved in the kernel.
	var ev []string
	for _, f := range fs {
		if s := g.evidence(f.p); s != "" {
			ev = append(ev, fmt.Sprintf("- %s = %s%s: %s", d.Name, f.level.Name, with(f.ctx), s))
		}
	}
	if len(ev) > 0 {
		fmt.Fprintf(w, "Probe evidence (vs %s):\n\n%s\n\n", ref, strings.Join(ev, "\n"))
	} else {
		fmt.Fprintf(w, "Probe evidence: none recorded for these cells.\n\n")
	}
	var src []string
	seen := map[string]bool{}
	for _, c := range cells {
		if !seen[c.Cell.ID] {
			seen[c.Cell.ID] = true
			src = append(src, c.Cell.ID+": "+strings.Join(c.Files, ", "))
		}
	}
	fmt.Fprintf(w, "Sources: %s.\n\n", strings.Join(src, "; "))
}

// caveats mentions significant regressions of the other headline metrics
// that come with a recommended level.
func (g *guide) caveats(w *bufio.Writer, p pair) {
	var cs []string
	for _, m := range tuning.Metrics {
		if m.Evidence || m.Key == g.obj.Key || m.Direction == tuning.Neutral {
			continue
		}
		c := g.cs.get(p, m.Key)
		if g.verdictOf(m, c) == "worse" {
			cs = append(cs, fmt.Sprintf("%s %s (p=%.3f)", m.Title, c.Delta(), c.AdjustedP))
		}
	}
	if len(cs) > 0 {
		fmt.Fprintf(w, "Trade-off: it also made %s worse.\n\n", strings.Join(cs, ", "))
	}
}

// evidence summarises the probe metrics of a pair: the significant
// changes with their numbers ("fsync p99 4.1 ms → 1.2 ms (-70.73%,
// p=0.004)"), then the metrics that did not change significantly.
func (g *guide) evidence(p pair) string {
	var moved, same []string
	for _, m := range tuning.Metrics {
		if !m.Evidence {
			continue
		}
		c := g.cs.get(p, m.Key)
		if c == nil {
			continue
		}
		if c.Classify(g.threshold(m)) != stats.Finding {
			same = append(same, m.Title)
			continue
		}
		moved = append(moved, fmt.Sprintf("%s %s → %s (%s, p=%.3f)", m.Title, withUnit(m, c.Base.Center), withUnit(m, c.New.Center), c.Delta(), c.AdjustedP))
	}
	if len(same) > 0 {
		moved = append(moved, "no practical, significant change in "+strings.Join(same, ", "))
	}
	return strings.Join(moved, "; ")
}

func (g *guide) verdict(ch check) (string, string) {
	if ch.dim == "" {
		if inv := g.a.Plan.Invocation; inv != nil && len(inv.LeftOut) > 0 {
			return "not measured", fmt.Sprintf("no dimension of this run varies it (left out on this host: %s; run as root for them); "+
				"if the plan has none either, add %s", strings.Join(inv.LeftOut, ", "), ch.claim.howTo)
		}
		return "not measured", "no dimension of this plan varies it; add " + ch.claim.howTo
	}
	type res struct{ verdict, text string }
	var rs []res
	mde := 0.0 // the largest MDE among the comparisons that found nothing
	var nothing []string
	if ch.claim.anyLevel {
		if len(ch.findings) == 0 {
			return "not measured", "the runs of dimension " + ch.dim + " are missing"
		}
		for _, f := range ch.findings {
			c := g.cs.get(f.p, ch.metric.Key)
			v := g.verdictOf(ch.metric, c)
			if v != "better" && v != "worse" {
				if c != nil && (v == inconclusive || v == noPractical) {
					mde = math.Max(mde, c.MDE())
					nothing = append(nothing, v)
				}
				continue
			}
			rs = append(rs, res{v, fmt.Sprintf("%s = %s%s: %s %s (95%% CI %s, p=%.3f; %s vs %s)", ch.dim, f.level.Name, with(f.ctx),
				ch.metric.Title, c.Delta(), c.RatioCI(), c.AdjustedP, f.p.cell.Cell.ID, f.p.base.Cell.ID)})
		}
		if len(rs) == 0 {
			if g.minRuns() < MinTestableRuns {
				return "too few runs to tell", fmt.Sprintf("%d runs per cell: no level of %s can change %s significantly", g.minRuns(), ch.dim, ch.metric.Title)
			}
			if slices.Contains(nothing, inconclusive) {
				return inconclusive, fmt.Sprintf("no level of %s changed %s as a finding; no difference larger than ±%.0f%% was detectable at %d runs per cell",
					ch.dim, ch.metric.Title, math.Ceil(100*mde-1e-9), g.minRuns())
			}
			return noPractical, fmt.Sprintf("no level of %s changed %s by more than ±%s", ch.dim, ch.metric.Title, pct(g.threshold(ch.metric)))
		}
	} else {
		if len(ch.pairs) == 0 {
			return "not measured", "the runs of dimension " + ch.dim + " are missing"
		}
		for _, cp := range ch.pairs {
			c := g.cs.get(cp.p, ch.metric.Key)
			if c == nil {
				rs = append(rs, res{"not measured", fmt.Sprintf("%s was not recorded for %s and %s", ch.metric.Title, cp.p.base.Cell.ID, cp.p.cell.Cell.ID)})
				continue
			}
			v := g.verdictOf(ch.metric, c)
			t := fmt.Sprintf("%s = %s vs %s%s: %s %s → %s, %s (95%% CI %s, p=%.3f)",
				ch.dim, ch.prefer, cp.vs, with(cp.ctx), ch.metric.Title, withUnit(ch.metric, c.Base.Center), withUnit(ch.metric, c.New.Center),
				c.Delta(), c.RatioCI(), c.AdjustedP)
			if v == inconclusive || v == noPractical {
				t += ", " + g.explain(ch.metric, c)
			}
			t += fmt.Sprintf("; %s vs %s", cp.p.cell.Cell.ID, cp.p.base.Cell.ID)
			if pe := g.evidence(cp.p); pe != "" {
				t += "; probes: " + pe
			}
			rs = append(rs, res{v, t})
		}
	}
	var texts []string
	n := map[string]int{}
	for _, r := range rs {
		texts = append(texts, r.text)
		n[r.verdict]++
	}
	return overall(n, "depends on the other knobs"), strings.Join(texts, " / ")
}

// overall is the seed table's verdict of advice from the count of its
// comparisons' verdicts: findings first, then what the others say; mixed
// is the verdict when the advice holds in some and not in others.
func overall(n map[string]int, mixed string) string {
	switch {
	case n["better"] > 0 && n["worse"] > 0:
		return mixed
	case n["better"] > 0:
		return "holds"
	case n["worse"] > 0:
		return "does not hold"
	case n[inconclusive] > 0:
		return inconclusive
	case n[noPractical] > 0:
		return noPractical
	case n[tooFew] > 0:
		return "too few runs to tell"
	}
	return "not measured"
}

// writeKeep is a dimension's verdict when no level is a finding for the
// better: never "Recommended", but why to keep the reference level, with
// the smallest difference the run could have seen.
func (g *guide) writeKeep(w *bufio.Writer, d tuning.Dimension, fs []finding, worse []string) {
	ref := d.Levels[0].Name
	if len(worse) > 0 {
		fmt.Fprintf(w, "**Keep %s = %s** — no level improved %s as a finding without making it worse somewhere; %s made it worse "+
			"(significant and beyond ±%s).\n\n", d.Name, ref, g.obj.Title, strings.Join(worse, ", "), pct(g.threshold(g.obj)))
		return
	}
	mde, inconcl, few := 0.0, 0, 0
	lo, hi := -1, 0
	for _, f := range fs {
		c := g.cs.get(f.p, g.obj.Key)
		switch g.verdictOf(g.obj, c) {
		case inconclusive:
			inconcl++
			mde = math.Max(mde, c.MDE())
		case tooFew, "not measured":
			few++
		}
		if c != nil {
			for _, n := range []int{c.Base.N, c.New.N} {
				if lo < 0 || n < lo {
					lo = n
				}
				hi = max(hi, n)
			}
		}
	}
	n := fmt.Sprintf("%d", lo)
	if hi != lo {
		n = fmt.Sprintf("%d-%d", lo, hi)
	}
	switch {
	case few > 0 && g.minRuns() < MinTestableRuns:
		fmt.Fprintf(w, "**Inconclusive — keep what you have (%s = %s)**: with %d runs per cell no change can be significant; "+
			"run the plan's full repetitions before changing anything.\n\n", d.Name, ref, g.minRuns())
	case inconcl > 0 && math.IsInf(mde, 1):
		fmt.Fprintf(w, "**Inconclusive — keep what you have (%s = %s)**: at n=%s runs per cell some comparisons have no interval, "+
			"so no size of difference can be ruled out.\n\n", d.Name, ref, n)
	case inconcl > 0:
		fmt.Fprintf(w, "**Inconclusive — keep what you have (%s = %s)**: no level changed %s as a finding; no difference larger "+
			"than ±%.0f%% was detectable at n=%s runs per cell (the widest interval of the %d inconclusive comparisons).\n\n",
			d.Name, ref, g.obj.Title, math.Ceil(100*mde-1e-9), n, inconcl)
	default:
		fmt.Fprintf(w, "**No practical difference: keep %s = %s** — no level changed %s by more than ±%s (n=%s runs per cell).\n\n",
			d.Name, ref, g.obj.Title, pct(g.threshold(g.obj)), n)
	}
}

// cand is a level of a dimension as a candidate for the recommendation.
type cand struct {
	level  string
	better []finding
	worse  bool
}

// recommendation picks a dimension's recommended level: one that is a
// finding for the better in at least one context and worse (as a finding)
// in none; among several, the one better in the most contexts, then the
// largest improvement. worse lists the levels that were worse somewhere.
func (g *guide) recommendation(fs []finding) (best *cand, worse []string) {
	var order []string
	cands := map[string]*cand{}
	for _, f := range fs {
		c := cands[f.level.Name]
		if c == nil {
			c = &cand{level: f.level.Name}
			cands[f.level.Name] = c
			order = append(order, f.level.Name)
		}
		switch g.verdictOf(g.obj, g.cs.get(f.p, g.obj.Key)) {
		case "better":
			c.better = append(c.better, f)
		case "worse":
			c.worse = true
		}
	}
	gain := func(f finding) float64 { // improvement as a positive ratio
		c := g.cs.get(f.p, g.obj.Key)
		if g.obj.Direction == tuning.LowerIsBetter {
			return c.Base.Center / c.New.Center
		}
		return c.New.Center / c.Base.Center
	}
	for _, name := range order {
		c := cands[name]
		if c.worse {
			worse = append(worse, name)
		}
		if c.worse || len(c.better) == 0 {
			continue
		}
		if best == nil || len(c.better) > len(best.better) ||
			len(c.better) == len(best.better) && gain(c.better[0]) > gain(best.better[0]) {
			best = c
		}
	}
	return best, worse
}
