package bench

import (
	"strings"
	"testing"
	"time"
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
