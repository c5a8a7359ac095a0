package check

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/tuning"
	"github.com/brokerlab/brokerlab/tuning/report"
)

const fakePlan = `
name: tune
workload: workloads/1-topic-16-partitions-1kb.yaml
driver: workloads/driver-default.yaml
repetitions: 5
seed: 7
warmup: 5s
measure: 25s
objective: publish_p99
design: one-at-a-time
matrix:
  - name: swappiness
    levels:
      - {name: "60", sysctl: {vm.swappiness: "60"}}
      - {name: "1", sysctl: {vm.swappiness: "1"}}
  - name: dirty
    levels:
      - {name: default-20-10, sysctl: {vm.dirty_ratio: "20", vm.dirty_background_ratio: "10"}}
      - {name: seed-80-60, sysctl: {vm.dirty_ratio: "80", vm.dirty_background_ratio: "60"}}
`

// writeFakeRun writes a small tune run under results/name: swappiness 1
// cuts publish p99 by 30% (a finding), the seed's dirty ratios change
// nothing.
func writeFakeRun(t *testing.T, results, name string) string {
	t.Helper()
	dir := filepath.Join(results, name)
	if err := os.MkdirAll(filepath.Join(dir, "runs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plan.yaml"), []byte(fakePlan), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := tuning.ParsePlan([]byte(fakePlan))
	if err != nil {
		t.Fatal(err)
	}
	effect := map[string]float64{"baseline": 1, "swappiness=1": 0.7, "dirty=seed-80-60": 1}
	jitter := []float64{-0.02, 0.01, 0.015, -0.01, 0.005}
	for i, run := range p.Schedule() {
		e, ok := effect[run.Cell.Name]
		if !ok {
			t.Fatalf("no effect for cell %s", run.Cell.Name)
		}
		r := tuning.NewRecord(p, run, tuning.Measurement{
			ThroughputMsgs: 20000, ThroughputBytes: 20e6,
			PublishP99: 0.010 * e * (1 + jitter[(run.Round+i)%len(jitter)]),
		})
		r.Start = time.Date(2026, 12, 4, 12, i, 0, 0, time.UTC)
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, tuning.RunFileName(run.Cell.ID, run.Round)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestNewestRun(t *testing.T) {
	results := t.TempDir()
	writeFakeRun(t, results, "ab-fs-20261204T050908Z")
	want := writeFakeRun(t, results, "tune-20261204T122000Z")
	writeFakeRun(t, results, "ab-fs-20261126T052657Z")
	// Newer, but not a run lab check reads: no plan, or another kind.
	for _, d := range []string{"tune-20261204T140000Z", "20261205T000000Z-recovery"} {
		if err := os.MkdirAll(filepath.Join(results, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got, err := NewestRun(results)
	if err != nil || got != want {
		t.Errorf("NewestRun = %q, %v; want %q", got, err, want)
	}
	if got, err := NewestRun(t.TempDir()); err != nil || got != "" {
		t.Errorf("NewestRun of an empty dir = %q, %v; want none", got, err)
	}
}

// lab check on the fake host with a fake run: each row the run's guide
// has a verdict on shows it, and its findings advise.
func TestCheckShowsTheRunsVerdicts(t *testing.T) {
	dir := writeFakeRun(t, t.TempDir(), "tune-20261204T122000Z")
	adv, verdicts, err := FromRun(dir, report.Host{Disks: []string{"vda"}, Netem: "no", NetemWhy: "CONFIG_NET_SCH_NETEM is not set"})
	if err != nil {
		t.Fatal(err)
	}
	props := testProperties(t)
	rows := fakeHost(t, Config{Advice: adv, Verdicts: verdicts, Properties: props})
	for _, want := range []struct{ setting, status, verdict, evidence string }{
		{"vm.swappiness", Pass, "holds", "swappiness = 1 vs 60: publish p99 9.900 ms → 7.035 ms"},
		{"vm.dirty_ratio", Warn, "no practical difference", "dirty = seed-80-60 vs default-20-10"},
		{"net.core.wmem_max", Warn, "not measurable here", "CONFIG_NET_SCH_NETEM is not set"},
		{"server.properties log.dirs", Info, "not measurable here", "one disk (/dev/vda)"},
		{"server.properties log.segment.bytes", Info, "not measured", "plans/tune.yaml: segment"},
	} {
		r, ok := rows[want.setting]
		if !ok {
			t.Errorf("no row for %s", want.setting)
			continue
		}
		if r.Status != want.status || r.Verdict != want.verdict || !strings.Contains(r.Evidence, want.evidence) || r.Run != "tune-20261204T122000Z" {
			t.Errorf("%s: status %s, run %q, verdict %q, evidence %q; want %s, %q, evidence with %q",
				want.setting, r.Status, r.Run, r.Verdict, r.Evidence, want.status, want.verdict, want.evidence)
		}
	}
	b, err := json.Marshal(rows["vm.swappiness"])
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"run":"tune-20261204T122000Z"`, `"verdict":"holds"`, `"evidence":"swappiness = 1 vs 60`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON row %s lacks %s", b, key)
		}
	}
}

// writeFakeRecovery writes a recovery bench beside the run in dir, as lab
// recovery does: 4 threads restart a third faster than 1 with a cold and
// with a warm page cache.
func writeFakeRecovery(t *testing.T, dir string) {
	t.Helper()
	seconds := map[int]map[string][]float64{
		1: {"cold": {3.41, 3.52, 3.46, 3.60, 3.38}, "warm": {2.03, 1.98, 2.10, 2.05, 1.95}},
		4: {"cold": {2.31, 2.40, 2.35, 2.28, 2.44}, "warm": {1.23, 1.20, 1.29, 1.25, 1.18}},
	}
	var runs []string
	for _, th := range []int{1, 4} {
		for _, cache := range []string{"cold", "warm"} {
			for i, s := range seconds[th][cache] {
				runs = append(runs, fmt.Sprintf(`{"pair":%d,"threads":%d,"cache":%q,"seconds":%g}`, i, th, cache, s))
			}
		}
	}
	b := `{"report":{"config":{"threads":[1,4]},"data":{"partitions":1000,"log_file_bytes":3000000000},"runs":[` + strings.Join(runs, ",") + `]}}`
	rd := filepath.Join(dir, "20261204T132513Z-recovery")
	if err := os.MkdirAll(rd, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rd, "recovery.json"), []byte(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A recovery bench finding that lab guide wrote to apply/server.properties
// is advice lab check checks the broker's server.properties against.
func TestCheckAdvisesTheRecoveryFinding(t *testing.T) {
	dir := writeFakeRun(t, t.TempDir(), "tune-20261204T122000Z")
	writeFakeRecovery(t, dir)
	h := report.Host{Disks: []string{"vda"}, Netem: "no", NetemWhy: "CONFIG_NET_SCH_NETEM is not set"}
	p, err := tuning.LoadPlan(filepath.Join(dir, "plan.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := report.AnalyzeDir(dir, p, h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := report.WriteApply(dir, a); err != nil {
		t.Fatal(err)
	}
	adv, verdicts, err := FromRun(dir, h)
	if err != nil {
		t.Fatal(err)
	}
	const setting = "server.properties num.recovery.threads.per.data.dir"
	for _, tc := range []struct{ current, status string }{{"1", Warn}, {"4", Pass}} {
		rows := fakeHost(t, Config{Advice: adv, Verdicts: verdicts, Properties: map[string]string{"num.recovery.threads.per.data.dir": tc.current}})
		r, ok := rows[setting]
		if !ok {
			t.Fatalf("no row for %s", setting)
		}
		if r.Current != tc.current || r.Advised != "4" || r.Status != tc.status || r.Verdict != "holds" ||
			!strings.HasPrefix(r.Source, "lab run tune-20261204T122000Z: finding: num.recovery.threads.per.data.dir = 4 vs 1 (restart after SIGKILL, cold page cache)") ||
			!strings.Contains(r.Source, "warm page cache") {
			t.Errorf("current %s: row %+v; want advised 4, status %s, verdict holds, the findings as its source", tc.current, r, tc.status)
		}
	}
}
