package bench

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/internal/testutil"
	"github.com/brokerlab/brokerlab/tuning/report"
)

func TestRowsSummariseEachCell(t *testing.T) {
	cutTrial := func(p string, s CutSemantics, lost int64, started bool, rec time.Duration) PowercutTrial {
		return PowercutTrial{Policy: p, Semantics: s, KillTrial: KillTrial{Acked: 100, Lost: lost}, Started: started, Recovery: rec}
	}
	r := &PowercutReport{
		Policies:  FlushPolicies[:2],
		Semantics: []CutSemantics{CutDataOnly},
		Trials: []PowercutTrial{
			cutTrial("page-cache", CutDataOnly, 10, true, time.Second),
			cutTrial("page-cache", CutDataOnly, 30, true, 3*time.Second),
			cutTrial("page-cache", CutDataOnly, 20, false, 0),
			cutTrial("every-1000-msgs", CutDataOnly, 0, true, time.Second),
		},
	}
	rows := r.Rows()
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	pc := rows[0]
	if pc.Trials != 3 || pc.Acked != 300 || pc.LostMedian != 20 || pc.LostMax != 30 || pc.TrialsWithLoss != 3 ||
		pc.NotStarted != 1 || pc.RecoveryMedian != 2*time.Second || pc.RecoveryMax != 3*time.Second {
		t.Errorf("page-cache row %+v", pc)
	}
	var b strings.Builder
	r.Markdown(&b)
	if !strings.Contains(b.String(), "| every-1000-msgs |") || !strings.Contains(b.String(), "acked lost (median)") {
		t.Errorf("table:\n%s", b.String())
	}
}

func TestPowercutVerdict(t *testing.T) {
	trial := func(p string, tr PowercutTrial) PowercutTrial {
		tr.Policy, tr.Semantics, tr.Started = p, CutDataAndMetadata, true
		return tr
	}
	for _, tc := range []struct {
		name  string
		trial PowercutTrial
		want  string // "" for no error
	}{
		{"page-cache may lose", trial("page-cache", PowercutTrial{KillTrial: KillTrial{Acked: 10, Lost: 5}}), ""},
		{"fsync-on-ack must not", trial("fsync-on-ack", PowercutTrial{KillTrial: KillTrial{Acked: 10, Lost: 1}}), "durability bug"},
		{"read-back failed", trial("page-cache", PowercutTrial{CheckError: "fetch: EOF"}), "could not be read back"},
		{"corrupt served", trial("every-100ms", PowercutTrial{KillTrial: KillTrial{Corrupt: 2}}), "corrupt batches"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &PowercutReport{Policies: FlushPolicies, Semantics: []CutSemantics{CutDataAndMetadata}, Trials: []PowercutTrial{tc.trial}}
			err := r.Verdict()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Verdict() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Verdict() = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestPowercutNamed(t *testing.T) {
	pols, err := FlushPoliciesNamed([]string{"fsync-on-ack", "page-cache"})
	if err != nil || len(pols) != 2 || pols[0].Name != "fsync-on-ack" || pols[1].Name != "page-cache" {
		t.Errorf("FlushPoliciesNamed = %v, %v", pols, err)
	}
	if pols, err := FlushPoliciesNamed(nil); err != nil || pols != nil {
		t.Errorf("FlushPoliciesNamed(nil) = %v, %v; want nil, nil", pols, err)
	}
	if _, err := FlushPoliciesNamed([]string{"every-day"}); err == nil {
		t.Error("FlushPoliciesNamed accepted an unknown policy")
	}
	sems, err := CutSemanticsNamed([]string{"data+metadata"})
	if err != nil || len(sems) != 1 || sems[0] != CutDataAndMetadata {
		t.Errorf("CutSemanticsNamed = %v, %v", sems, err)
	}
	if _, err := CutSemanticsNamed([]string{"metadata"}); err == nil {
		t.Error("CutSemanticsNamed accepted unknown semantics")
	}
}

func TestPowercutRunSaveWritesReadme(t *testing.T) {
	dir := t.TempDir()
	r := PowercutRun{
		Config:  PowercutConfig{Producers: 2, Partitions: 3, SegmentBytes: 16 << 10, Retention: 1500 * time.Millisecond, Torn: 512},
		Report:  &PowercutReport{Seed: 7, Policies: FlushPolicies[:1], Semantics: []CutSemantics{CutDataOnly}, Trials: []PowercutTrial{{Policy: "page-cache", Semantics: CutDataOnly, Started: true}}},
		WorkDir: dir, Command: "lab powercut -trials 1", Commit: "abc", Err: errors.New("interrupted"),
	}
	var stdout strings.Builder
	if err := r.Save(dir, &stdout); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	testutil.Contains(t, "README.md", string(readme), "`lab powercut -trials 1`", "| seed | 7 |", "2 producers and 3 partitions", "retention.ms 1500", "page-cache |", "**The run stopped early:** interrupted")
	if !strings.Contains(stdout.String(), "page-cache |") {
		t.Errorf("stdout lacks the table:\n%s", stdout.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "powercut.json")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "loop.json")); !os.IsNotExist(err) {
		t.Errorf("loop.json without loop trials: %v", err)
	}
}

// TestPowercutRunReadByTheGuide saves a run and reads it back with the
// guide's reader (tuning/report reads powercut.json and loop.json with
// structs of its own): per policy and semantics the cuts, the losses and
// the cuts that failed, and the loop device's trials.
func TestPowercutRunReadByTheGuide(t *testing.T) {
	dir := t.TempDir()
	trial := func(policy string, sem CutSemantics, lost int64, started bool, checkErr string) PowercutTrial {
		return PowercutTrial{Policy: policy, Semantics: sem, KillTrial: KillTrial{Lost: lost}, Started: started, CheckError: checkErr}
	}
	r := PowercutRun{
		Config: PowercutConfig{Producers: 2, Partitions: 2},
		Report: &PowercutReport{Seed: 1, Policies: FlushPolicies, Semantics: []CutSemantics{CutDataOnly, CutDataAndMetadata}, Trials: []PowercutTrial{
			trial("page-cache", CutDataOnly, 4000, true, ""),
			trial("page-cache", CutDataOnly, 5000, true, ""),
			trial("page-cache", CutDataOnly, 3000, true, ""),
			trial("page-cache", CutDataAndMetadata, 0, false, ""),
			trial("fsync-on-ack", CutDataOnly, 0, true, ""),
			trial("fsync-on-ack", CutDataOnly, 0, true, "reading back: timeout"),
		}},
		Loop:    []PowercutLoopTrial{{Policy: "page-cache", KillTrial: KillTrial{Lost: 162026}, Started: true}, {Policy: "page-cache", KillTrial: KillTrial{Lost: 464228}, Started: true}},
		WorkDir: dir, Command: "lab powercut", Commit: "abc",
	}
	run := filepath.Join(dir, "20261204T220000Z-powercut")
	if err := os.MkdirAll(run, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := r.Save(run, io.Discard); err != nil {
		t.Fatal(err)
	}
	p, err := report.ReadPowercut(dir)
	if err != nil || p == nil {
		t.Fatalf("ReadPowercut: %v, %v", p, err)
	}
	if p.File != "20261204T220000Z-powercut/powercut.json" || len(p.Policies) != len(FlushPolicies) || !slices.Equal(p.Semantics, []string{"data", "data+metadata"}) {
		t.Fatalf("read %s with %d policies and semantics %v", p.File, len(p.Policies), p.Semantics)
	}
	pc, fs := p.Policies[0], p.Policies[3]
	if pc.Name != "page-cache" || pc.Broker["log.flush.sync.on.ack"] != "false" || fs.Name != "fsync-on-ack" {
		t.Fatalf("policies %+v, %+v", pc, fs)
	}
	if got, want := pc.Model["data"], (report.Losses{Cuts: 3, Checked: 3, Losing: 3, Median: 4000, Max: 5000}); got != want {
		t.Errorf("page-cache, data: %+v, want %+v", got, want)
	}
	if got := pc.Model["data+metadata"]; got.Cuts != 1 || got.NotStarted != 1 || got.Checked != 0 {
		t.Errorf("page-cache, data+metadata: %+v, want one cut after which the broker did not start", got)
	}
	if got := fs.Model["data"]; got.Cuts != 2 || got.Checked != 1 || got.Losing != 0 {
		t.Errorf("fsync-on-ack, data: %+v, want 2 cuts, 1 read back, none lost", got)
	}
	if pc.Loop == nil || pc.Loop.Cuts != 2 || pc.Loop.Max != 464228 || fs.Loop != nil {
		t.Errorf("loop: page-cache %+v, fsync-on-ack %+v", pc.Loop, fs.Loop)
	}
}
