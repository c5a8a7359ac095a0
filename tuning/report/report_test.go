package report

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/internal/testutil"
	"github.com/brokerlab/brokerlab/procsample"
	"github.com/brokerlab/brokerlab/tuning"
)

// mustParsePlan is tuning.ParsePlan of src, failing the test on an error.
func mustParsePlan(t testing.TB, src string) *tuning.Plan {
	t.Helper()
	p, err := tuning.ParsePlan([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// planYAML is the text of a plan named name on the 16-partition workload
// and the default driver, reps repetitions of seed 5 with 5s of warm-up and
// 20s measured, followed by rest (its design, base and matrix).
func planYAML(name string, reps int, rest string) string {
	return fmt.Sprintf(`
name: %s
workload: workloads/1-topic-16-partitions-1kb.yaml
driver: workloads/driver-default.yaml
repetitions: %d
seed: 5
warmup: 5s
measure: 20s
`, name, reps) + rest
}

const testPlan = `
name: guide-test
description: A fixed data set for the golden files.
workload: workloads/1-topic-16-partitions-1kb.yaml
driver: workloads/driver-default.yaml
repetitions: 6
seed: 3
warmup: 5s
measure: 20s
objective: publish_p99
design: one-at-a-time
base:
  disk: {kind: loop, size: 1GiB}
  swap: 1GiB
matrix:
  - name: swappiness
    levels:
      - {name: "60", sysctl: {vm.swappiness: "60"}}
      - {name: "1", sysctl: {vm.swappiness: "1"}}
  - name: fs
    levels:
      - {name: ext4, filesystem: {type: ext4}}
      - {name: xfs, filesystem: {type: xfs}}
  - name: sockbuf
    levels:
      - {name: os-autotune, broker: {socket.send.buffer.bytes: "-1"}}
      - {name: large-4m, broker: {socket.send.buffer.bytes: "4194304"}, sysctl: {net.core.wmem_max: "16777216"}}
  - name: memcg
    levels:
      - {name: 1g, memory_limit: 1GiB}
      - {name: 256m, memory_limit: 256MiB}
  - name: flush
    levels:
      - {name: page-cache, broker: {log.flush.sync.on.ack: "false"}}
      - {name: fsync-on-ack, broker: {log.flush.sync.on.ack: "true"}}
`

// effect is a cell's multiplier on the baseline per metric.
type effect struct {
	pubP99, e2eP99, thr, fsync, hit, swap float64
}

// testRecords makes a fixed, noisy-looking data set: every run is the
// baseline times the cell's effect times a fixed jitter per repetition.
func testRecords(t *testing.T) (*tuning.Plan, []tuning.Record) {
	t.Helper()
	p := mustParsePlan(t, testPlan)
	effects := map[string]effect{
		"baseline":     {1, 1, 1, 1, 1, 1},
		"swappiness=1": {0.99, 1.0, 1.0, 1, 1, 0.2},
		"fs=xfs":       {0.8, 0.9, 1.05, 0.4, 1, 1}, // fsync beyond one log2 bucket: a finding

		"sockbuf=large-4m":   {1.01, 1.0, 1.0, 1, 1, 1},
		"memcg=256m":         {1.3, 1.8, 0.9, 1.1, 0.55, 12},
		"flush=fsync-on-ack": {4.0, 3.0, 0.5, 1.2, 1, 1},
	}
	jitter := []float64{-0.04, 0.01, 0.05, -0.015, 0.025, -0.03}
	start := time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
	env := procsample.Environment{Kernel: "6.18.0", CPUModel: "Intel Xeon (test)", CPUs: 2, MemTotalBytes: 24576 << 20,
		Disk: "loop on vda (virtio)", Filesystem: "per cell", Workload: "1 topic, 1 partition, 1 KiB", GoVersion: "go1.26.0"}
	var recs []tuning.Record
	for _, run := range p.Schedule() {
		e, ok := effects[run.Cell.Name]
		if !ok {
			t.Fatalf("no effect for %s", run.Cell.Name)
		}
		j := 1 + jitter[(run.Round+len(run.Cell.ID))%len(jitter)]
		f := func(v float64) *float64 { return &v }
		m := tuning.Measurement{
			ThroughputMsgs:   50000 * e.thr * j,
			ThroughputBytes:  50e6 * e.thr * j,
			PublishP50:       0.002 * e.pubP99 * j,
			PublishP99:       0.010 * e.pubP99 * j,
			PublishP999:      0.025 * e.pubP99 * j,
			E2EP99:           0.015 * e.e2eP99 * j,
			FsyncP50:         f(0.0008 * e.fsync * j),
			FsyncP99:         f(0.004 * e.fsync * j),
			PageCacheHitRate: f(0.98 * e.hit * (1 - (j-1)/10)),
			SwapIns:          f(10 * e.swap * j),
			SendBufFull:      f(0.01 * j),
			SendfileShare:    f(0.999),
			CeilingBytes:     200e6,
		}
		var notes []string
		if run.Cell.Name == "flush=fsync-on-ack" && run.Round == 2 {
			notes = []string{"target rate not held: achieved 9800 msg/s = 49.0% of the target 20000 msg/s (below 99%)"}
		}
		r := tuning.NewRecord(p, run, m)
		r.Start, r.Environment, r.Notes = start.Add(time.Duration(run.Order)*time.Minute), env, notes
		recs = append(recs, r)
	}
	return p, recs
}

// analysisOf analyses recs of plan p.
func analysisOf(t *testing.T, p *tuning.Plan, recs []tuning.Record) *Analysis {
	t.Helper()
	a, err := Analyze(p, recs)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// guideText writes a's guide.
func guideText(t *testing.T, a *Analysis) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteGuide(&b, a); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// tablesText writes a's tables in format f.
func tablesText(t *testing.T, a *Analysis, f Format) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteTables(&b, a, f); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// guideOf analyses recs of plan p and returns the guide written from it.
func guideOf(t *testing.T, p *tuning.Plan, recs []tuning.Record) string {
	t.Helper()
	return guideText(t, analysisOf(t, p, recs))
}

// guideHas fails the test for each of wants the guide lacks.
func guideHas(t *testing.T, guide string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(guide, want) {
			t.Errorf("guide lacks %q", want)
		}
	}
}

func testAnalysis(t *testing.T) *Analysis {
	t.Helper()
	p, recs := testRecords(t)
	return analysisOf(t, p, recs)
}

func TestTablesTerminal(t *testing.T) {
	testutil.Golden(t, []byte(tablesText(t, testAnalysis(t), Terminal)))
}

func TestTablesMarkdown(t *testing.T) {
	testutil.Golden(t, []byte(tablesText(t, testAnalysis(t), Markdown)))
}

func TestGuide(t *testing.T) {
	got := guideText(t, testAnalysis(t))
	guideHas(t, got,
		"**Recommended: fs = xfs**",
		"**Keep flush = page-cache** — no level improved publish p99 as a finding without making it worse somewhere",
		"**Inconclusive — keep what you have (swappiness = 60)**: no level changed publish p99 as a finding; no difference larger than ±7% was detectable at n=6 runs per cell",
		"| Use XFS rather than EXT4 for the log disk ",
		"not measured",
		"runs/c03-r1.json",
		"## Run warnings",
		"- runs/c06-r2.json (c06 flush=fsync-on-ack): target rate not held",
	)
	testutil.Golden(t, []byte(got))
}

func TestGuideWarnsAboutTooFewRuns(t *testing.T) {
	p, recs := testRecords(t)
	var few []tuning.Record
	for _, r := range recs {
		if r.Repetition <= 3 {
			few = append(few, r)
		}
	}
	guide := guideOf(t, p, few)
	if !strings.Contains(guide, "Too few runs for firm conclusions:** some cells have only 3 runs") {
		t.Error("no warning about 3 runs per cell")
	}
	if strings.Contains(guide, "**Recommended: fs = xfs**") {
		t.Error("a recommendation from 3 runs per cell: the U test cannot be significant there")
	}
}

func TestGuideVerdicts(t *testing.T) {
	g, err := newGuide(testAnalysis(t))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, ch := range g.checks {
		v, _ := g.verdict(ch)
		got[ch.claim.advice] = v
	}
	want := map[string]string{
		"Keep vm.swappiness low": "inconclusive",
		"Let dirty pages reach 60-80% of memory before writeback (vm.dirty_ratio)": "not measured",
		"Use XFS rather than EXT4 for the log disk":                                "holds",
		"Raise socket send/receive buffer defaults and maxima":                     "inconclusive",
		"Leave memory to the page cache: consumers read from it":                   "holds",
		"The log disk's throughput dominates producer latency":                     "not measured",
		"Tune the garbage collector (GOGC/GOMEMLIMIT for a Go broker)":             "not measured",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: verdict %q, want %q", k, got[k], w)
		}
	}
}

func TestAnalyzeRejectsRunsOfAnotherPlan(t *testing.T) {
	p, recs := testRecords(t)
	recs[3].CellName = "fs=btrfs"
	_, err := Analyze(p, recs)
	if err == nil || !strings.Contains(err.Error(), recs[3].File) || !strings.Contains(err.Error(), "another plan") {
		t.Fatalf("err = %v", err)
	}
}

func TestNum(t *testing.T) {
	for v, want := range map[float64]string{100.5: "100.5", 95.9: "95.90", 0.01234: "0.01234", 12345: "12345", 0: "0"} {
		if got := num(v); got != want {
			t.Errorf("num(%v) = %s, want %s", v, got, want)
		}
	}
	_ = fmt.Sprint()
}

var factorialPlan = planYAML("ab-test", 6, `base:
  disk: {kind: loop, size: 1GiB}
matrix:
  - name: fs
    levels:
      - {name: ext4, filesystem: {type: ext4}}
      - {name: xfs, filesystem: {type: xfs}}
  - name: durability
    levels:
      - {name: page-cache, broker: {log.flush.sync.on.ack: "false"}}
      - {name: fsync-on-ack, broker: {log.flush.sync.on.ack: "true"}}
`)

// TestGuideFullFactorial: XFS helps only when fsync is on the ack path,
// the interaction the ab-fs plan is built to find.
func TestGuideFullFactorial(t *testing.T) {
	p := mustParsePlan(t, factorialPlan)
	pub := map[string]float64{
		"fs=ext4,durability=page-cache": 0.010, "fs=xfs,durability=page-cache": 0.0101,
		"fs=ext4,durability=fsync-on-ack": 0.040, "fs=xfs,durability=fsync-on-ack": 0.025,
	}
	jitter := []float64{-0.04, 0.01, 0.05, -0.015, 0.025, -0.03}
	var recs []tuning.Record
	for _, run := range p.Schedule() {
		j := 1 + jitter[(run.Round+2*len(run.Cell.Name))%len(jitter)]
		r := tuning.NewRecord(p, run, tuning.Measurement{ThroughputBytes: 20e6 * j, ThroughputMsgs: 20000 * j,
			PublishP50: pub[run.Cell.Name] / 5 * j, PublishP99: pub[run.Cell.Name] * j, PublishP999: 2 * pub[run.Cell.Name] * j, E2EP99: 1.5 * pub[run.Cell.Name] * j})
		r.Environment = procsample.Environment{Kernel: "6.18.0", CPUModel: "test", CPUs: 2}
		recs = append(recs, r)
	}
	a := analysisOf(t, p, recs)
	guide := guideText(t, a)
	guideHas(t, guide,
		"**Recommended: fs = xfs** — publish p99 39.90 ms → 24.94 ms with durability=fsync-on-ack",
		"It depends on the other knobs: xfs is better with durability=fsync-on-ack (inconclusive at the reference levels)",
		"| Use XFS rather than EXT4 for the log disk ",
	)
	g, _ := newGuide(a)
	for _, ch := range g.checks {
		if strings.HasPrefix(ch.claim.advice, "Use XFS") {
			if v, ev := g.verdict(ch); v != "holds" {
				t.Errorf("XFS verdict %q (%s), want holds: better with fsync-on-ack, not significant otherwise", v, ev)
			}
		}
	}
	testutil.Golden(t, []byte(guide))
}

func TestWriteChartsWritesPNGs(t *testing.T) {
	dir := t.TempDir()
	files, err := WriteCharts(dir, testAnalysis(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(chartMetrics) {
		t.Fatalf("wrote %v, want one per metric in %v", files, chartMetrics)
	}
	for _, f := range files {
		r, err := os.Open(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(r)
		r.Close()
		if err != nil || cfg.Width < 500 {
			t.Errorf("%s: not a chart-sized PNG: %+v %v", f, cfg, err)
		}
	}
}

// A plan that varies GOMAXPROCS alone at a held rate, optimising the
// broker's CPU per GB: the recommendation follows the CPU, and the GC row
// of the seed table is not measured by it (GOGC and GOMEMLIMIT stay unset).
func TestGuideCPUObjectiveAndGOMAXPROCS(t *testing.T) {
	p := mustParsePlan(t, `
name: runtime-test
workload: workloads/1-topic-1-partition-1kb-50k.yaml
driver: workloads/driver-default.yaml
repetitions: 6
seed: 5
warmup: 5s
measure: 20s
objective: cpu_per_gb
base:
  disk: {kind: dir}
matrix:
  - name: procs
    levels:
      - name: gomaxprocs-cpus
      - {name: gomaxprocs-1, runtime: {gomaxprocs: "1"}}
`)
	jitter := []float64{-0.02, 0.01, 0.015, -0.01, 0.005, 0}
	var recs []tuning.Record
	for i, run := range p.Schedule() {
		j := 1 + jitter[(run.Round+i)%len(jitter)]
		cpu := 10.0 * j // s per GB
		if run.Cell.Levels["procs"] == "gomaxprocs-1" {
			cpu *= 0.9
		}
		m := tuning.Measurement{ThroughputMsgs: 50000, ThroughputBytes: 51.2e6, PublishP99: 0.0017 * j, E2EP99: 0.0026 * j,
			Proc:     &procsample.Sample{Process: &procsample.Process{UserSeconds: cpu / 3 * 1.28, SystemSeconds: cpu * 2 / 3 * 1.28}},
			Produced: &tuning.Produced{Bytes: 1.28e9, Records: 1.25e6}}
		r := tuning.NewRecord(p, run, m)
		r.Start = time.Date(2026, 12, 4, 17, 0, i, 0, time.UTC)
		recs = append(recs, r)
	}
	a := analysisOf(t, p, recs)
	guideHas(t, guideText(t, a), "Objective: **broker CPU** (lower is better)", "**Recommended: procs = gomaxprocs-1**")
	g, err := newGuide(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range g.checks {
		if v, _ := g.verdict(ch); strings.HasPrefix(ch.claim.advice, "Tune the garbage collector") && v != "not measured" {
			t.Errorf("GC advice: verdict %q from a plan that leaves GOGC and GOMEMLIMIT unset, want not measured", v)
		}
	}
}
