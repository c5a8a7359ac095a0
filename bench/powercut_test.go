package bench

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/internal/testutil"
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
