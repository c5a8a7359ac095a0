package report

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/internal/testutil"
	"github.com/brokerlab/brokerlab/tuning"
)

var applyPlan = planYAML("apply-test", 8, `design: one-at-a-time
matrix:
  - name: dirty
    levels:
      - {name: default, sysctl: {vm.dirty_ratio: "20", vm.dirty_background_ratio: "10"}}
      - {name: seed-60, sysctl: {vm.dirty_ratio: "60", vm.dirty_background_ratio: "5"}}
  - name: segment
    levels:
      - {name: 1g, broker: {log.segment.bytes: "1073741824"}}
      - {name: 256m, broker: {log.segment.bytes: "268435456"}}
  - name: gc
    levels:
      - {name: default, runtime: {gogc: "100"}}
      - {name: gogc-200, runtime: {gogc: "200", gomemlimit: "2GiB"}}
  - name: swappiness
    levels:
      - {name: "60", sysctl: {vm.swappiness: "60"}}
      - {name: "1", sysctl: {vm.swappiness: "1"}}
`)

// applyRecords are the run records of p's schedule, each run's publish
// p99 in seconds from p99.
func applyRecords(p *tuning.Plan, p99 func(tuning.Run) float64) []tuning.Record {
	var recs []tuning.Record
	for _, run := range p.Schedule() {
		r := tuning.NewRecord(p, run, tuning.Measurement{PublishP99: p99(run), ThroughputBytes: 1e7})
		r.Start = time.Unix(int64(run.Order), 0)
		recs = append(recs, r)
	}
	return recs
}

// analysisBeside analyses recs of plan p and reads the benches beside them
// in dir.
func analysisBeside(t *testing.T, p *tuning.Plan, recs []tuning.Record, dir string) *Analysis {
	t.Helper()
	a := analysisOf(t, p, recs)
	if err := a.ReadBeside(dir, Host{}); err != nil {
		t.Fatal(err)
	}
	return a
}

// Apply files carry the findings for the better only, each line under
// its finding; an inconclusive dimension (swappiness) and a worse one
// (segment) write nothing.
func TestWriteApplyWritesOnlyFindings(t *testing.T) {
	p := mustParsePlan(t, applyPlan)
	effect := map[string]float64{"baseline": 1, "dirty=seed-60": 0.7, "segment=256m": 1.4, "gc=gogc-200": 0.85}
	noise := []float64{0.5, 1.6, 0.8, 1.4, 0.9, 1.7, 0.6, 1.3}
	jitter := []float64{-0.02, 0.01, 0.03, -0.01, 0.02, -0.03, 0, 0.015}
	recs := applyRecords(p, func(run tuning.Run) float64 {
		v := 0.010 * (1 + jitter[(run.Round+len(run.Cell.Name))%len(jitter)])
		if e, ok := effect[run.Cell.Name]; ok {
			return v * e
		}
		return 0.010 * noise[run.Round-1] // swappiness=1: noise around the baseline, no finding
	})
	a := analysisOf(t, p, recs)
	dir := t.TempDir()
	// A file of an earlier rendering goes: the files are the findings'.
	if err := os.MkdirAll(filepath.Join(dir, ApplyDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ApplyDir, applyFstab), []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	paths, err := WriteApply(dir, a)
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, ApplyDir, name))
		if err != nil {
			t.Fatalf("%s: %v (wrote %v)", name, err, paths)
		}
		return string(b)
	}
	sysctl := read(applySysctl)
	testutil.Contains(t, "sysctl.d file", sysctl, []string{
		"# finding: dirty = seed-60 vs default: publish p99 10.0",
		"-30.0% (95% CI",
		"runs c02-r*.json vs c01-r*.json, n=8+8)\nvm.dirty_background_ratio = 5\n",
		"\nvm.dirty_ratio = 60\n",
	}...)
	if strings.Contains(sysctl, "swappiness") {
		t.Errorf("an inconclusive dimension in the sysctl.d file:\n%s", sysctl)
	}
	env := read(applyEnv)
	if !strings.Contains(env, "# finding: gc = gogc-200 vs default") || !strings.Contains(env, "\nGOGC=200\n") || !strings.Contains(env, "\nGOMEMLIMIT=2GiB\n") {
		t.Errorf("env file:\n%s", env)
	}
	for _, name := range []string{applyProperties, applyFstab} {
		if _, err := os.Stat(filepath.Join(dir, ApplyDir, name)); !os.IsNotExist(err) {
			t.Errorf("%s written (err %v): segment=256m was worse and no filesystem was compared", name, err)
		}
	}
}

// The recovery bench beside the runs is advice to apply when more threads
// restart faster as a finding with a cold and with a warm page cache; a
// finding with a cold page cache alone (warm: no difference) writes no
// line, though the seed table says the advice holds.
func TestWriteApplyRecovery(t *testing.T) {
	p := mustParsePlan(t, planYAML("apply-recovery", 5, `design: one-at-a-time
matrix:
  - name: swappiness
    levels:
      - {name: "60", sysctl: {vm.swappiness: "60"}}
      - {name: "1", sysctl: {vm.swappiness: "1"}}
`))
	noise := []float64{0.5, 1.6, 0.8, 1.4, 0.9}
	recs := applyRecords(p, func(run tuning.Run) float64 { // no finding in the sweep
		return 0.010 * noise[(run.Round+run.Order)%len(noise)]
	})
	cold1 := []float64{3.41, 3.52, 3.46, 3.60, 3.38}
	cold4 := []float64{2.31, 2.40, 2.35, 2.28, 2.44}
	warm1 := []float64{2.03, 1.98, 2.10, 2.05, 1.95}
	for _, tc := range []struct {
		name  string
		warm4 []float64
		want  string // the server.properties file; "" for none
	}{
		{"both", []float64{1.23, 1.20, 1.29, 1.25, 1.18}, "" +
			"# finding: num.recovery.threads.per.data.dir = 4 vs 1 (restart after SIGKILL, cold page cache): seconds to serve 3.46 s → 2.35 s, 1.47× faster, -32.1% (95% CI " +
			"# finding: num.recovery.threads.per.data.dir = 4 vs 1 (restart after SIGKILL, warm page cache): seconds to serve 2.03 s → 1.23 s, 1.65× faster, -39.4% (95% CI " +
			"p=0.016 after Holm over cold and warm; 20261204T134500Z-recovery/recovery.json, n=5+5)\nnum.recovery.threads.per.data.dir=4\n"},
		{"cold only", []float64{2.04, 1.97, 2.08, 2.01, 1.99}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeRecovery(t, dir, map[int]map[string][]float64{1: {"cold": cold1, "warm": warm1}, 4: {"cold": cold4, "warm": tc.warm4}})
			a := analysisBeside(t, p, recs, dir)
			seed, err := SeedVerdicts(a)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range seed {
				if slices.Contains(s.Settings, "server.properties num.recovery.threads.per.data.dir") && s.Verdict != "holds" {
					t.Errorf("seed verdict on recovery threads %q, want holds: %s", s.Verdict, s.Evidence)
				}
			}
			if _, err := WriteApply(dir, a); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, ApplyDir, applyProperties))
			if tc.want == "" {
				if !os.IsNotExist(err) {
					t.Errorf("server.properties written (err %v), want none:\n%s", err, b)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := string(b)
			testutil.Contains(t, "server.properties", got, strings.SplitAfter(tc.want, "(95% CI ")...)
			if n := strings.Count(got, "\nnum.recovery.threads.per.data.dir="); n != 1 {
				t.Errorf("%d num.recovery.threads.per.data.dir lines, want 1:\n%s", n, got)
			}
		})
	}
}

// A swept dimension that sets num.recovery.threads.per.data.dir too: when
// it advises the bench's thread count, the one line carries both findings;
// when it advises another, the guide names the conflict and the file keeps
// the dimension's line alone.
func TestWriteApplyRecoveryAndDimension(t *testing.T) {
	for _, tc := range []struct{ threads, line, note string }{
		{"4", "num.recovery.threads.per.data.dir=4", ""},
		{"8", "num.recovery.threads.per.data.dir=8", "- Not a file: num.recovery.threads.per.data.dir: the recovery bench advises num.recovery.threads.per.data.dir=4, a swept dimension num.recovery.threads.per.data.dir=8"},
	} {
		t.Run(tc.threads, func(t *testing.T) {
			p := mustParsePlan(t, planYAML("apply-recovery-dimension", 5, `design: one-at-a-time
matrix:
  - name: recovery
    levels:
      - {name: "1", broker: {num.recovery.threads.per.data.dir: "1"}}
      - {name: "`+tc.threads+`", broker: {num.recovery.threads.per.data.dir: "`+tc.threads+`"}}
`))
			jitter := []float64{-0.02, 0.01, 0.03, -0.01, 0.02}
			recs := applyRecords(p, func(run tuning.Run) float64 {
				v := 0.010 * (1 + jitter[run.Round%len(jitter)])
				if run.Cell.Name != "baseline" {
					v *= 0.7
				}
				return v
			})
			dir := t.TempDir()
			writeRecovery(t, dir, map[int]map[string][]float64{
				1: {"cold": {3.41, 3.52, 3.46, 3.60, 3.38}, "warm": {2.03, 1.98, 2.10, 2.05, 1.95}},
				4: {"cold": {2.31, 2.40, 2.35, 2.28, 2.44}, "warm": {1.23, 1.20, 1.29, 1.25, 1.18}},
			})
			a := analysisBeside(t, p, recs, dir)
			if _, err := WriteApply(dir, a); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, ApplyDir, applyProperties))
			if err != nil {
				t.Fatal(err)
			}
			got := string(b)
			if n := strings.Count(got, "\nnum.recovery.threads.per.data.dir="); n != 1 || !strings.Contains(got, "\n"+tc.line+"\n") {
				t.Errorf("want one line %s:\n%s", tc.line, got)
			}
			dimension := "# finding: recovery = " + tc.threads + " vs 1: publish p99"
			bench := "# finding: num.recovery.threads.per.data.dir = 4 vs 1 (restart after SIGKILL, cold page cache)"
			if !strings.Contains(got, dimension) || strings.Contains(got, bench) != (tc.note == "") {
				t.Errorf("want the dimension's finding, and the bench's only where they agree:\n%s", got)
			}
			var guide strings.Builder
			if err := WriteGuide(&guide, a); err != nil {
				t.Fatal(err)
			}
			if tc.note != "" && !strings.Contains(guide.String(), tc.note) {
				t.Errorf("the guide does not name the conflict %q:\n%s", tc.note, guide.String())
			}
		})
	}
}
