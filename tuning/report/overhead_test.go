package report

import (
	"strings"
	"testing"

	"github.com/brokerlab/brokerlab/internal/testutil"
	"github.com/brokerlab/brokerlab/procsample"
	"github.com/brokerlab/brokerlab/tuning"
)

const overheadPlan = `
name: overhead-test
workload: workloads/1-topic-1-partition-1kb-max.yaml
driver: workloads/driver-default.yaml
repetitions: 6
seed: 5
warmup: 5s
measure: 20s
objective: throughput
matrix:
  - name: probes
    levels:
      - {name: none, probes: none}
      - {name: all, probes: all}
`

// overheadGuide writes the guide of an overhead plan whose "all" cell has
// throughput thr times and publish p99 p99 times the "none" cell's; skew
// adds a per-run jitter to the "all" cell only.
func overheadGuide(t *testing.T, thr, p99 float64, skew []float64) string {
	t.Helper()
	return overheadGuideOf(t, thr, p99, skew, 6)
}

func overheadGuideOf(t *testing.T, thr, p99 float64, skew []float64, reps int) string {
	t.Helper()
	p := mustParsePlan(t, overheadPlan)
	p.Repetitions = reps
	jitter := []float64{-0.004, 0.001, 0.005, -0.0015, 0.0025, -0.003}
	var recs []tuning.Record
	for _, run := range p.Schedule() {
		j := 1 + jitter[run.Round%len(jitter)]
		ft, fp := 1.0, 1.0
		if run.Cell.Settings.Probes == tuning.ProbesAll {
			ft, fp = thr, p99
			if skew != nil {
				ft *= 1 + skew[run.Round%len(skew)]
			}
		}
		r := tuning.NewRecord(p, run, tuning.Measurement{ThroughputBytes: 80e6 * ft * j, ThroughputMsgs: 80000 * ft * j,
			PublishP50: 0.001 * fp * j, PublishP99: 0.008 * fp * j, PublishP999: 0.02 * fp * j, E2EP99: 0.01 * fp * j})
		r.Environment = procsample.Environment{Kernel: "6.18.0", CPUModel: "test", CPUs: 2}
		recs = append(recs, r)
	}
	return guideOf(t, p, recs)
}

func TestGuideProbeOverhead(t *testing.T) {
	got := overheadGuide(t, 0.995, 1.01, nil)
	guideHas(t, got,
		"## Probe overhead",
		"Target: the probes cost at most 2% of throughput",
		"| with      | cells none / all | throughput none (MB/s) | throughput all (MB/s) | throughput ratio (95% CI)",
		"| reference | c01 / c02        |",
		"| 0.995 (0.99",
		"| 1.010 (1.00",
		"| within target: cost at most 1.",
	)
	testutil.Golden(t, []byte(got))
}

func TestTablesShowProbeOverhead(t *testing.T) {
	p := mustParsePlan(t, overheadPlan)
	var recs []tuning.Record
	for _, run := range p.Schedule() {
		thr := 80e6 * (1 + float64(run.Round)/1000)
		if run.Cell.Settings.Probes == tuning.ProbesAll {
			thr *= 0.97
		}
		recs = append(recs, tuning.NewRecord(p, run, tuning.Measurement{ThroughputBytes: thr, PublishP99: 0.008}))
	}
	testutil.Contains(t, "the tables' text", tablesText(t, analysisOf(t, p, recs), Terminal), "Probe overhead (all vs none; target: at most 2% of throughput)", "throughput ratio (95% CI)", "0.970 (0.96", "over target: cost at least")
}

func TestProbeOverheadVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		thr       float64
		skew      []float64
		reps      int
		want, not string
	}{
		{"a 10% cost is over the target", 0.90, nil, 6, "over target: cost at least 9.5%", "within target"},
		{"no cost is within it", 1.0, nil, 6, "within target: cost at most 0.5%", "over target"},
		{"a wide interval across 2% is undecided", 0.98, []float64{-0.03, 0.03, -0.02, 0.02, 0.01, -0.01}, 6, "undecided: cost between", "within target"},
		{"fewer than 5 pairs decide nothing", 1.0, nil, 4, "too few runs to tell: 4 per side, the issue asks for at least 5 pairs", "within target"},
	} {
		got := overheadGuideOf(t, tc.thr, 1, tc.skew, tc.reps)
		if !strings.Contains(got, tc.want) || strings.Contains(got, tc.not) {
			i := strings.Index(got, "## Probe overhead")
			t.Errorf("%s: want %q and not %q in:\n%s", tc.name, tc.want, tc.not, got[i:min(len(got), i+1500)])
		}
	}
}

func TestGuideLabelsAReducedUnprivilegedRun(t *testing.T) {
	p, recs := testRecords(t)
	var few []tuning.Record
	for _, r := range recs {
		if r.Repetition <= 2 {
			few = append(few, r)
		}
	}
	p.Repetitions = 2
	p.Invocation = &tuning.Invocation{
		Command:   "bin/lab sweep -plan plans/quick.yaml -repetitions 2 -measure 5s -warmup 2s",
		Overrides: []string{"repetitions: 6 -> 2", "measure: 20s -> 5s"},
		Reduced:   true,
		Skipped:   []string{"drop_caches: the page cache is not emptied before each run (writing /proc/sys/vm/drop_caches needs root)"},
		LeftOut:   []string{"disk"},
	}
	a := analysisOf(t, p, few)
	got := guideText(t, a)
	guideHas(t, got,
		"**Reduced run:** the command line shortened the plan (repetitions: 6 -> 2; measure: 20s -> 5s). Read this as a smoke test",
		"**Skipped on this host**",
		"- drop_caches: the page cache is not emptied before each run",
		"Command: `bin/lab sweep -plan plans/quick.yaml -repetitions 2 -measure 5s -warmup 2s`",
		"**Inconclusive — keep what you have (fs = ext4)**: with 2 runs per cell no change can be significant",
		"| Use XFS rather than EXT4 for the log disk ",
		"| too few runs to tell |",
		"| not measured         | no dimension of this run varies it (left out on this host: disk; run as root for them); if the plan has none either, add a dimension with vm.dirty_ratio",
	)
	if strings.Contains(got, "| not significant |") || strings.Contains(got, "Recommended") {
		t.Error("a verdict of not significant from 2 runs per cell: it cannot be anything else, so it says nothing")
	}
	// The terminal wraps the note at DefaultWidth.
	tables := tablesText(t, a, Terminal)
	if want := "Note: a reduced run (repetitions: 6 -> 2; measure: 20s -> 5s): a smoke test, not a measurement; skipped on this host: 1\n    (see guide.md).\nPerformance"; !strings.HasPrefix(tables, want) {
		t.Errorf("tables start %q, want %q", tables[:min(len(tables), 200)], want)
	}
}
