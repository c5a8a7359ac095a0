package powercutbench

import (
	"strings"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/bench"
)

func TestRowsSummariseEachCell(t *testing.T) {
	trial := func(p string, s Semantics, lost int64, started bool, rec time.Duration) Trial {
		return Trial{Policy: p, Semantics: s, KillTrial: bench.KillTrial{Acked: 100, Lost: lost}, Started: started, Recovery: rec}
	}
	r := &Report{
		Policies:  Policies[:2],
		Semantics: []Semantics{DataOnly},
		Trials: []Trial{
			trial("page-cache", DataOnly, 10, true, time.Second),
			trial("page-cache", DataOnly, 30, true, 3*time.Second),
			trial("page-cache", DataOnly, 20, false, 0),
			trial("every-1000-msgs", DataOnly, 0, true, time.Second),
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
