package report

import (
	"bufio"
	"fmt"
	"io"
	"maps"
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

// finding is one level of a dimension against the dimension's first level,
// with the other dimensions at the levels of one context.
type finding struct {
	level tuning.Level
	// ctx names the other dimensions' levels where they are not at their
	// first ("durability=fsync-on-ack"); "" is the reference context.
	ctx string
	p   pair
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

// diskSpeed scores a disk, negated so the advice prefers the lowest: RAM
// disks (tmpfs-loop, zram) before unthrottled disks before throttled ones,
// those by their write limit.
func diskSpeed(s tuning.Settings) (float64, bool) {
	if s.Disk == nil {
		return 0, false
	}
	switch {
	case s.Disk.Throttle != nil && s.Disk.Throttle.WriteBPS > 0:
		return -float64(s.Disk.Throttle.WriteBPS), true
	case s.Disk.Kind == tuning.DiskTmpfsLoop || s.Disk.Kind == tuning.DiskZram:
		return -3e18, true
	}
	return -2e18, true
}

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
	// prefer and against name the advised and advised-against levels.
	prefer, against string
	// pairs compare against (base) with prefer, one per context.
	pairs []ctxPair
	// findings are the dimension's findings (anyLevel claims).
	findings []finding
}

type ctxPair struct {
	ctx string
	p   pair
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
				g.cs.add(f.p)
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
				g.cs.add(cp.p)
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
			pref, against, ok := cl.pick(settings)
			if !ok {
				continue
			}
			ch.dim = d.Name
			if cl.anyLevel {
				ch.findings = g.findings[d.Name]
				break
			}
			ch.prefer, ch.against = d.Levels[pref].Name, d.Levels[against].Name
			for _, ctx := range a.contexts(d.Name) {
				pc, ac := a.cellIn(ctx, d.Name, ch.prefer), a.cellIn(ctx, d.Name, ch.against)
				if pc != nil && ac != nil {
					cp := ctxPair{ctx: a.ctxLabel(ctx), p: pair{base: ac, cell: pc}}
					ch.pairs = append(ch.pairs, cp)
					g.cs.add(cp.p)
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
		"p-values Holm-corrected across every comparison of the same metric in this guide (%d pairs of cells); "+
		"\"~\" means not significant. Cells ran interleaved in an order shuffled every round (seed %d), %d repetitions, "+
		"%s warm-up and %s measured per run.\n\n",
		int(stats.Confidence*100), stats.BootstrapIterations, stats.Alpha, len(g.cs.pairs), p.Seed, p.Repetitions, p.Warmup, p.Measure)
	fmt.Fprintf(w, "A recommendation weighs %s only. Where a knob trades something the numbers do not price — durability "+
		"(the flush policy), memory left to other services (memory limits), headroom — decide that part yourself; "+
		"the tables below show the other metrics, and `tables.md` every metric of every cell.\n\n", g.obj.Title)
	if minRuns := g.minRuns(); minRuns < 6 {
		raise := "raise repetitions: in the plan"
		if p.Invocation != nil && p.Invocation.Reduced {
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
		[][]string{{e.Kernel, fmt.Sprintf("%s (%d CPUs)", e.CPU, e.CPUs), fmt.Sprintf("%d MiB", e.MemoryMiB), e.Disk, e.Filesystem, e.Workload, e.GoVersion}})
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
	fmt.Fprintf(w, "Verdicts: **holds** (the advised setting is significantly better), **does not hold** (significantly worse), "+
		"**not significant** (no difference detected at this many runs), **too few runs to tell** (fewer than %d runs per cell: "+
		"no difference can be significant, whatever the numbers), **not measured** (the plan has no dimension for it).\n\n", MinTestableRuns)
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
		if g.minRuns() < MinTestableRuns {
			fmt.Fprintf(w, "With %d runs per cell no level can change %s significantly, so these are numbers, not findings:\n\n", g.minRuns(), g.obj.Title)
		} else {
			fmt.Fprintf(w, "These levels did not change %s detectably; that is not proof of no effect, only that any effect is smaller than this many runs can resolve:\n\n", g.obj.Title)
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
}

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

// verdictOf classifies a comparison on metric m.
func verdictOf(m tuning.Metric, c *stats.Comparison) string {
	switch {
	case c == nil:
		return "not measured"
	case c.Significant && better(m, *c):
		return "better"
	case c.Significant:
		return "worse"
	case min(c.Base.N, c.New.N) < MinTestableRuns:
		return tooFew
	}
	return "not significant"
}

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
	// The recommendation: a level that is significantly better in at
	// least one context and significantly worse in none; among several,
	// the one better in the most contexts, then the largest improvement.
	type cand struct {
		level  string
		better []finding
		worse  bool
	}
	var order []string
	cands := map[string]*cand{}
	for _, f := range fs {
		c := cands[f.level.Name]
		if c == nil {
			c = &cand{level: f.level.Name}
			cands[f.level.Name] = c
			order = append(order, f.level.Name)
		}
		switch verdictOf(g.obj, g.cs.get(f.p, g.obj.Key)) {
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
	var best *cand
	var worse []string
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
			anywhere = "; not significantly worse with any level of the other knobs"
		}
		fmt.Fprintf(w, "**Recommended: %s = %s** — %s, vs %s = %s%s.\n\n",
			d.Name, best.level, strings.Join(where, "; "), d.Name, ref, anywhere)
		g.caveats(w, best.better[0].p)
	} else {
		why := "no level changed " + g.obj.Title + " significantly"
		if g.minRuns() < MinTestableRuns {
			why = fmt.Sprintf("with %d runs per cell no change can be significant; run the plan's full repetitions before changing anything", g.minRuns())
		}
		if len(worse) > 0 {
			why = "no level improved " + g.obj.Title + " without making it significantly worse somewhere; " + strings.Join(worse, ", ") + " made it worse"
		}
		fmt.Fprintf(w, "**Recommended: keep %s = %s** — %s.\n\n", d.Name, ref, why)
	}
	// Where another context gives another verdict, the knob interacts
	// with the other dimensions: say so.
	refVerdict := map[string]string{}
	for _, f := range fs {
		if f.ctx == "" {
			refVerdict[f.level.Name] = verdictOf(g.obj, g.cs.get(f.p, g.obj.Key))
		}
	}
	var depends []string
	for _, f := range fs {
		if v := verdictOf(g.obj, g.cs.get(f.p, g.obj.Key)); f.ctx != "" && v != refVerdict[f.level.Name] {
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
		if !c.Significant {
			*notSig = append(*notSig, fmt.Sprintf("%s = %s vs %s%s: %s %s → %s (95%% CI %s, p=%.3f; %s vs %s)",
				d.Name, f.level.Name, ref, with(f.ctx), g.obj.Title, withUnit(g.obj, c.Base.Center), withUnit(g.obj, c.New.Center),
				c.RatioCI(), c.AdjustedP, f.p.base.Cell.ID, f.p.cell.Cell.ID))
		}
		row(f.level.Name, f.ctx, f.p.cell.Cell.ID, summary(g.obj, c.New),
			c.Delta()+" ("+c.RatioCI()+")", fmt.Sprintf("%.3f", c.AdjustedP), verdictOf(g.obj, c))
	}
	header := []string{"level"}
	if multi {
		header = append(header, "with")
	}
	header = append(header, "cell", g.obj.Title+" ("+g.obj.Unit+")", "change vs "+ref+" (95% CI)", "p (Holm)", "verdict")
	g.table(w, header, rows)
	fmt.Fprintln(w)
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
		if inv := g.a.Plan.Invocation; inv != nil && len(inv.LeftOut) > 0 {
			return "not measured", fmt.Sprintf("no dimension of this run varies it (left out on this host: %s; run as root for them); "+
				"if the plan has none either, add %s", strings.Join(inv.LeftOut, ", "), ch.claim.howTo)
		}
		return "not measured", "no dimension of this plan varies it; add " + ch.claim.howTo
	}
	type res struct{ verdict, text string }
	var rs []res
	if ch.claim.anyLevel {
		if len(ch.findings) == 0 {
			return "not measured", "the runs of dimension " + ch.dim + " are missing"
		}
		for _, f := range ch.findings {
			c := g.cs.get(f.p, ch.metric.Key)
			v := verdictOf(ch.metric, c)
			if v != "better" && v != "worse" {
				continue
			}
			rs = append(rs, res{v, fmt.Sprintf("%s = %s%s: %s %s (95%% CI %s, p=%.3f; %s vs %s)", ch.dim, f.level.Name, with(f.ctx),
				ch.metric.Title, c.Delta(), c.RatioCI(), c.AdjustedP, f.p.cell.Cell.ID, f.p.base.Cell.ID)})
		}
		if len(rs) == 0 {
			if g.minRuns() < MinTestableRuns {
				return "too few runs to tell", fmt.Sprintf("%d runs per cell: no level of %s can change %s significantly", g.minRuns(), ch.dim, ch.metric.Title)
			}
			return "not significant", fmt.Sprintf("no level of %s changed %s significantly", ch.dim, ch.metric.Title)
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
			t := fmt.Sprintf("%s = %s vs %s%s: %s %s → %s, %s (95%% CI %s, p=%.3f); %s vs %s",
				ch.dim, ch.prefer, ch.against, with(cp.ctx), ch.metric.Title, withUnit(ch.metric, c.Base.Center), withUnit(ch.metric, c.New.Center),
				c.Delta(), c.RatioCI(), c.AdjustedP, cp.p.cell.Cell.ID, cp.p.base.Cell.ID)
			if pe := g.evidence(cp.p); pe != "" {
				t += "; probes: " + pe
			}
			rs = append(rs, res{verdictOf(ch.metric, c), t})
		}
	}
	var texts []string
	n := map[string]int{}
	for _, r := range rs {
		texts = append(texts, r.text)
		n[r.verdict]++
	}
	ev := strings.Join(texts, " / ")
	switch {
	case n["better"] > 0 && n["worse"] > 0:
		return "depends on the other knobs", ev
	case n["better"] > 0:
		return "holds", ev
	case n["worse"] > 0:
		return "does not hold", ev
	case n["not significant"] > 0:
		return "not significant", ev
	case n[tooFew] > 0:
		return "too few runs to tell", ev
	}
	return "not measured", ev
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
