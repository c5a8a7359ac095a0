package report

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/brokerlab/brokerlab/tuning"
	"github.com/brokerlab/brokerlab/tuning/stats"
)

// pair is two cells compared: base (the reference or the advice's
// contrast) and cell.
type pair struct{ base, cell *CellResult }

// comparisons holds every comparison the guide makes, Holm-corrected per
// metric across all pairs (the family is "every comparison of this metric
// in this guide").
type comparisons struct {
	pairs []pair
	by    map[[2]string]map[string]*stats.Comparison
}

func (cs *comparisons) add(p pair) {
	k := [2]string{p.base.Cell.ID, p.cell.Cell.ID}
	if _, ok := cs.by[k]; ok {
		return
	}
	cs.by[k] = map[string]*stats.Comparison{}
	cs.pairs = append(cs.pairs, p)
}

func (cs *comparisons) compute() {
	for _, m := range tuning.Metrics {
		var family []*stats.Comparison
		for _, p := range cs.pairs {
			if c, ok := compare(p.base, p.cell, m.Key); ok {
				cs.by[[2]string{p.base.Cell.ID, p.cell.Cell.ID}][m.Key] = &c
				family = append(family, &c)
			}
		}
		stats.Holm(family)
	}
}

func (cs *comparisons) get(p pair, key string) *stats.Comparison {
	return cs.by[[2]string{p.base.Cell.ID, p.cell.Cell.ID}][key]
}

// finding is one level of a dimension against the dimension's first level.
type finding struct {
	level tuning.Level
	p     pair
}

// claim is a piece of the seed's (and Kafka's usual) advice and how to
// test it with a dimension of the plan.
type claim struct {
	advice string
	source string
	// metric is the metric the advice is about; "" = the plan's objective.
	metric string
	// pick chooses, from a dimension's levels (effective settings), the
	// level the advice prefers and the one it advises against.
	pick func(levels []tuning.Settings) (prefer, against int, ok bool)
	// anyLevel: the advice holds if any level beats the first (the advice
	// is "tune it", not a direction).
	anyLevel bool
	// howTo says how to measure it when the plan does not.
	howTo string
}

var claims = []claim{
	{
		advice: "Keep vm.swappiness low",
		source: "seed §6 운영체제 조정하기: \"vm.swappiness를 낮게\"",
		pick:   extremes(func(s tuning.Settings) (float64, bool) { return sysctlNum(s, "vm.swappiness") }, false),
		howTo:  "a dimension with vm.swappiness levels (plans/tune.yaml: swappiness), with swap present (swap:) and memory pressure (memory_limit:)",
	},
	{
		advice: "Let dirty pages reach 60-80% of memory before writeback (vm.dirty_ratio)",
		source: "seed §6: \"더티 페이지의 비율을 60-80으로 유지\"",
		pick:   pickDirty,
		howTo:  "a dimension with vm.dirty_ratio levels including one from 60 to 80 (plans/tune.yaml: dirty)",
	},
	{
		advice: "Use XFS rather than EXT4 for the log disk",
		source: "seed §6: \"EXT4 vs. XFS(안전, 효율적)\"",
		pick:   pickXFS,
		howTo:  "a dimension with an ext4 and an xfs level (plans/ab-fs.yaml)",
	},
	{
		advice: "Raise socket send/receive buffer defaults and maxima",
		source: "seed §6: \"각 socket의 송수신 버퍼로 할당되는 기본과 최대 메모리량을 변경\"",
		pick:   extremes(sockbuf, false),
		howTo:  "a dimension varying net.core.wmem_max/rmem_max and socket.send/receive.buffer.bytes (plans/tune.yaml: sockbuf)",
	},
	{
		advice: "Leave memory to the page cache: consumers read from it",
		source: "seed §4 메모리: \"페이지 캐시로 사용되는 메모리가 더 많을수록 컨슈머 클라이언트의 성능이 좋아진다\"",
		metric: "e2e_p99",
		pick:   extremes(memory, false),
		howTo:  "a dimension with memory_limit levels (plans/tune.yaml: memcg)",
	},
	{
		advice: "The log disk's throughput dominates producer latency",
		source: "seed §4 디스크 처리량: \"프로듀서의 클라이언트 성능에는 ... 디스크의 처리량이 가장 큰 영향을 준다\"",
		metric: "publish_p99",
		pick:   extremes(diskSpeed, false),
		howTo:  "a dimension with disk throttle levels (disk: throttle: write_bps) or disk kinds",
	},
	{
		advice: "Tune the garbage collector (GOGC/GOMEMLIMIT for a Go broker)",
		source: "seed §7 가비지 컬렉션 옵션 (G1 MaxGCPauseMillis, InitiatingHeapOccupancyPercent)",
		pick: func(levels []tuning.Settings) (int, int, bool) {
			return 0, 0, differ(levels, func(s tuning.Settings) string {
				if s.Runtime == nil {
					return ""
				}
				return s.Runtime.GOGC + "/" + s.Runtime.GOMEMLIMIT
			})
		},
		anyLevel: true,
		howTo:    "a dimension with runtime: gogc/gomemlimit levels (plans/tune.yaml: gc)",
	},
}

func differ(levels []tuning.Settings, key func(tuning.Settings) string) bool {
	for _, l := range levels[1:] {
		if key(l) != key(levels[0]) {
			return true
		}
	}
	return false
}

// extremes prefers the level with the lowest score (or highest with
// high) and advises against the opposite extreme.
func extremes(score func(tuning.Settings) (float64, bool), high bool) func([]tuning.Settings) (int, int, bool) {
	return func(levels []tuning.Settings) (int, int, bool) {
		lo, hi := -1, -1
		for i, l := range levels {
			v, ok := score(l)
			if !ok {
				continue
			}
			if lo < 0 || v < must(score(levels[lo])) {
				lo = i
			}
			if hi < 0 || v > must(score(levels[hi])) {
				hi = i
			}
		}
		if lo < 0 || lo == hi || must(score(levels[lo])) == must(score(levels[hi])) {
			return 0, 0, false
		}
		if high {
			return hi, lo, true
		}
		return lo, hi, true
	}
}

func must(v float64, _ bool) float64 { return v }

func sysctlNum(s tuning.Settings, key string) (float64, bool) {
	v, ok := s.Sysctl[key]
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.Fields(v + " x")[0], 64)
	return f, err == nil
}

func pickDirty(levels []tuning.Settings) (int, int, bool) {
	seed := -1
	for i, l := range levels {
		if v, ok := sysctlNum(l, "vm.dirty_ratio"); ok && v >= 60 && v <= 80 {
			seed = i
			break
		}
	}
	if seed < 0 {
		return 0, 0, false
	}
	against := 0
	if seed == 0 {
		_, against, _ = extremes(func(s tuning.Settings) (float64, bool) { return sysctlNum(s, "vm.dirty_ratio") }, false)(levels)
		if against == seed {
			return 0, 0, false
		}
	}
	return seed, against, true
}

func pickXFS(levels []tuning.Settings) (int, int, bool) {
	x, e := -1, -1
	for i, l := range levels {
		if l.Filesystem == nil {
			continue
		}
		if l.Filesystem.Type == "xfs" && x < 0 {
			x = i
		}
		if l.Filesystem.Type == "ext4" && e < 0 {
			e = i
		}
	}
	return x, e, x >= 0 && e >= 0
}

// sockbuf scores a level by its largest socket buffer setting (the sysctl
// maxima and the broker's SO_SNDBUF/SO_RCVBUF); -1 (kernel autotuning)
// counts as 0. Higher is "raised", so the advice prefers the negated score's
// minimum.
func sockbuf(s tuning.Settings) (float64, bool) {
	best, any := 0.0, false
	for _, k := range []string{"net.core.wmem_max", "net.core.rmem_max"} {
		if v, ok := sysctlNum(s, k); ok {
			best, any = math.Max(best, v), true
		}
	}
	for _, k := range []string{"socket.send.buffer.bytes", "socket.receive.buffer.bytes"} {
		if v, err := strconv.ParseFloat(s.Broker[k], 64); err == nil {
			best, any = math.Max(best, v), true
		}
	}
	return -best, any
}

// memory scores by the memory limit (none = infinite), negated: the advice
// prefers more.
func memory(s tuning.Settings) (float64, bool) {
	if s.MemoryLimit == 0 {
		return math.Inf(-1), true
	}
	return -float64(s.MemoryLimit), true
}

// diskSpeed scores by the write throttle (none = infinite), negated: the
// advice prefers the faster disk.
func diskSpeed(s tuning.Settings) (float64, bool) {
	if s.Disk == nil {
		return 0, false
	}
	if s.Disk.Throttle == nil || s.Disk.Throttle.WriteBPS == 0 {
		return math.Inf(-1), true
	}
	return -float64(s.Disk.Throttle.WriteBPS), true
}

// guide is everything WriteGuide prints, computed first.
type guide struct {
	a        *Analysis
	obj      tuning.Metric
	cs       *comparisons
	findings map[string][]finding // by dimension name
	checks   []check
}

type check struct {
	claim  claim
	dim    string
	p      pair
	metric tuning.Metric
	// levels names preferred and advised-against levels.
	prefer, against string
	ok              bool // measured
	findings        []finding
}

// cellAt returns the cell with every dimension at its first level except
// dim at level l.
func (a *Analysis) cellAt(dim string, l string) *CellResult {
	levels := map[string]string{}
	for _, d := range a.Plan.Matrix {
		levels[d.Name] = d.Levels[0].Name
	}
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
		ref := a.cellAt(d.Name, d.Levels[0].Name)
		for _, l := range d.Levels[1:] {
			c := a.cellAt(d.Name, l.Name)
			if ref == nil || c == nil {
				continue
			}
			f := finding{level: l, p: pair{ref, c}}
			g.cs.add(f.p)
			g.findings[d.Name] = append(g.findings[d.Name], f)
		}
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
			pref, against, ok := cl.pick(settings)
			if !ok {
				continue
			}
			ch.dim = d.Name
			if cl.anyLevel {
				ch.findings = g.findings[d.Name]
				ch.ok = len(ch.findings) > 0
				break
			}
			pc, ac := a.cellAt(d.Name, d.Levels[pref].Name), a.cellAt(d.Name, d.Levels[against].Name)
			ch.prefer, ch.against = d.Levels[pref].Name, d.Levels[against].Name
			if pc != nil && ac != nil {
				ch.p = pair{base: ac, cell: pc}
				ch.ok = true
				g.cs.add(ch.p)
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
		"p-values Holm-corrected across every comparison of the same metric in this guide (%d pairs of cells); "+
		"\"~\" means not significant. Cells ran interleaved in an order shuffled every round (seed %d), %d repetitions, "+
		"%s warm-up and %s measured per run.\n\n",
		int(stats.Confidence*100), stats.BootstrapIterations, stats.Alpha, len(g.cs.pairs), p.Seed, p.Repetitions, p.Warmup, p.Measure)
	if minRuns := g.minRuns(); minRuns < 6 {
		fmt.Fprintf(w, "**Too few runs for firm conclusions:** some cells have only %d runs. The Mann-Whitney U test cannot reach p < %.2f "+
			"with fewer than 4 runs per cell, and a 95%% interval of a median needs at least 6 (shown as ±∞); "+
			"raise repetitions: in the plan.\n\n", minRuns, stats.Alpha)
	}

	fmt.Fprintf(w, "## Conditions\n\n")
	e := a.Env
	g.table(w, []string{"kernel", "CPU", "memory", "disk", "filesystem", "workload", "Go"},
		[][]string{{e.Kernel, fmt.Sprintf("%s (%d CPUs)", e.CPU, e.CPUs), fmt.Sprintf("%d MiB", e.MemoryMiB), e.Disk, e.Filesystem, e.Workload, e.GoVersion}})
	fmt.Fprintf(w, "\nThe recommendations hold for this machine and this workload (`%s`, driver `%s`); re-run the plan on the production hardware before applying them there.\n\n", p.Workload, p.Driver)

	fmt.Fprintf(w, "## Recommendations\n\n")
	var notSig []string
	for _, d := range p.Matrix {
		g.writeDimension(w, d, &notSig)
	}

	fmt.Fprintf(w, "## The seed's advice, checked\n\n")
	fmt.Fprintf(w, "Verdicts: **holds** (the advised setting is significantly better), **does not hold** (significantly worse), "+
		"**not significant** (no difference detected at this many runs), **not measured** (the plan has no dimension for it).\n\n")
	var rows [][]string
	for _, ch := range g.checks {
		verdict, ev := g.verdict(ch)
		rows = append(rows, []string{ch.claim.advice, ch.claim.source, verdict, ev})
	}
	g.table(w, []string{"advice", "source", "verdict", "evidence"}, rows)
	fmt.Fprintln(w)

	fmt.Fprintf(w, "## Not significant\n\n")
	if len(notSig) == 0 {
		fmt.Fprintf(w, "Every level compared changed %s significantly.\n\n", g.obj.Title)
	} else {
		fmt.Fprintf(w, "These levels did not change %s detectably; that is not proof of no effect, only that any effect is smaller than this many runs can resolve:\n\n", g.obj.Title)
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

	fmt.Fprintf(w, "## Run files\n\n")
	var frows [][]string
	for _, c := range a.Cells {
		frows = append(frows, []string{c.Cell.ID, c.Cell.Name, strings.Join(c.Files, ", ")})
	}
	g.table(w, []string{"cell", "levels", "files"}, frows)
}

func (g *guide) writeDimension(w *bufio.Writer, d tuning.Dimension, notSig *[]string) {
	fs := g.findings[d.Name]
	ref := d.Levels[0].Name
	fmt.Fprintf(w, "### %s\n\n", d.Name)
	if len(fs) == 0 {
		fmt.Fprintf(w, "Not measured: the runs of the cells needed to compare the levels of %s with %s are missing.\n\n", d.Name, ref)
		return
	}
	// The recommendation: the significantly better level with the best
	// median, else the reference.
	var best *finding
	var bestC *stats.Comparison
	var worse []string
	for i := range fs {
		c := g.cs.get(fs[i].p, g.obj.Key)
		if c == nil {
			continue
		}
		if c.Significant && better(g.obj, *c) {
			if best == nil || better(g.obj, stats.Comparison{Base: bestC.New, New: c.New}) {
				best, bestC = &fs[i], c
			}
		} else if c.Significant {
			worse = append(worse, fs[i].level.Name)
		}
	}
	refCell := fs[0].p.base
	if best != nil {
		fmt.Fprintf(w, "**Recommended: %s = %s** — %s %s → %s, %s (95%% CI %s, p=%.3f after Holm), vs %s = %s.\n\n",
			d.Name, best.level.Name, g.obj.Title, withUnit(g.obj, bestC.Base.Center), withUnit(g.obj, bestC.New.Center),
			bestC.Delta(), bestC.RatioCI(), bestC.AdjustedP, d.Name, ref)
		g.caveats(w, best.p)
	} else {
		why := "no level changed " + g.obj.Title + " significantly"
		if len(worse) > 0 {
			why = "no level improved " + g.obj.Title + " significantly; " + strings.Join(worse, ", ") + " made it worse"
		}
		fmt.Fprintf(w, "**Recommended: keep %s = %s** — %s.\n\n", d.Name, ref, why)
	}
	var rows [][]string
	if s, ok := refCell.summary(g.obj); ok {
		rows = append(rows, []string{ref + " (reference)", refCell.Cell.ID, s, "", "", ""})
	}
	for _, f := range fs {
		c := g.cs.get(f.p, g.obj.Key)
		if c == nil {
			rows = append(rows, []string{f.level.Name, f.p.cell.Cell.ID, "n/a", "", "", "not measured"})
			continue
		}
		verdict := "not significant"
		switch {
		case c.Significant && better(g.obj, *c):
			verdict = "better"
		case c.Significant:
			verdict = "worse"
		}
		if !c.Significant {
			*notSig = append(*notSig, fmt.Sprintf("%s = %s vs %s: %s %s → %s (95%% CI %s, p=%.3f; %s vs %s)",
				d.Name, f.level.Name, ref, g.obj.Title, withUnit(g.obj, c.Base.Center), withUnit(g.obj, c.New.Center),
				c.RatioCI(), c.AdjustedP, f.p.base.Cell.ID, f.p.cell.Cell.ID))
		}
		rows = append(rows, []string{f.level.Name, f.p.cell.Cell.ID, summary(g.obj, c.New),
			c.Delta() + " (" + c.RatioCI() + ")", fmt.Sprintf("%.3f", c.AdjustedP), verdict})
	}
	g.table(w, []string{"level", "cell", g.obj.Title + " (" + g.obj.Unit + ")", "change vs " + ref + " (95% CI)", "p (Holm)", "verdict"}, rows)
	fmt.Fprintln(w)
	// Probe evidence: what moved in the kernel.
	var ev []string
	for _, f := range fs {
		if s := g.evidence(f.p); s != "" {
			ev = append(ev, fmt.Sprintf("- %s = %s: %s", d.Name, f.level.Name, s))
		}
	}
	if len(ev) > 0 {
		fmt.Fprintf(w, "Probe evidence (vs %s):\n\n%s\n\n", ref, strings.Join(ev, "\n"))
	} else {
		fmt.Fprintf(w, "Probe evidence: none recorded for these cells.\n\n")
	}
	var src []string
	src = append(src, refCell.Cell.ID+": "+strings.Join(refCell.Files, ", "))
	for _, f := range fs {
		src = append(src, f.p.cell.Cell.ID+": "+strings.Join(f.p.cell.Files, ", "))
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
		if c != nil && c.Significant && !better(m, *c) && c.New.Center != c.Base.Center {
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
		if !c.Significant {
			same = append(same, m.Title)
			continue
		}
		moved = append(moved, fmt.Sprintf("%s %s → %s (%s, p=%.3f)", m.Title, withUnit(m, c.Base.Center), withUnit(m, c.New.Center), c.Delta(), c.AdjustedP))
	}
	if len(same) > 0 {
		moved = append(moved, "no significant change in "+strings.Join(same, ", "))
	}
	return strings.Join(moved, "; ")
}

func (g *guide) verdict(ch check) (string, string) {
	if ch.dim == "" {
		return "not measured", "no dimension of this plan varies it; add " + ch.claim.howTo
	}
	if !ch.ok {
		return "not measured", "the runs of dimension " + ch.dim + " are missing"
	}
	if ch.claim.anyLevel {
		var better_, worse []string
		for _, f := range ch.findings {
			c := g.cs.get(f.p, ch.metric.Key)
			if c == nil || !c.Significant {
				continue
			}
			s := fmt.Sprintf("%s = %s: %s %s (95%% CI %s, p=%.3f; %s vs %s)", ch.dim, f.level.Name, ch.metric.Title, c.Delta(), c.RatioCI(), c.AdjustedP, f.p.base.Cell.ID, f.p.cell.Cell.ID)
			if better(ch.metric, *c) {
				better_ = append(better_, s)
			} else {
				worse = append(worse, s)
			}
		}
		switch {
		case len(better_) > 0:
			return "holds", "tuning pays: " + strings.Join(better_, "; ")
		case len(worse) > 0:
			return "does not hold", "the default was best; " + strings.Join(worse, "; ")
		}
		return "not significant", fmt.Sprintf("no level of %s changed %s significantly", ch.dim, ch.metric.Title)
	}
	c := g.cs.get(ch.p, ch.metric.Key)
	if c == nil {
		return "not measured", ch.metric.Title + " was not recorded for " + ch.p.base.Cell.ID + " and " + ch.p.cell.Cell.ID
	}
	ev := fmt.Sprintf("%s = %s vs %s: %s %s → %s, %s (95%% CI %s, p=%.3f); %s vs %s",
		ch.dim, ch.prefer, ch.against, ch.metric.Title, withUnit(ch.metric, c.Base.Center), withUnit(ch.metric, c.New.Center),
		c.Delta(), c.RatioCI(), c.AdjustedP, ch.p.cell.Cell.ID, ch.p.base.Cell.ID)
	if pe := g.evidence(ch.p); pe != "" {
		ev += "; probes: " + pe
	}
	switch {
	case !c.Significant:
		return "not significant", ev
	case better(ch.metric, *c):
		return "holds", ev
	}
	return "does not hold", ev
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
