package report

import (
	"strings"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/tuning"
)

// The shipped tune plan, with its recovery bench beside it, answers every
// piece of the seed's advice on this kind of host (one disk, no
// sch_netem): no row is left "not measured", and the rows this host
// cannot measure say why.
func TestTunePlanAnswersEverySeedRow(t *testing.T) {
	p, err := tuning.LoadPlan("../../plans/tune.yaml")
	if err != nil {
		t.Fatal(err)
	}
	jitter := []float64{-0.03, 0.01, 0.02, -0.01, 0.015}
	var recs []tuning.Record
	for i, run := range p.Schedule() {
		j := 1 + jitter[(run.Round+i)%len(jitter)]
		r := tuning.NewRecord(p, run, tuning.Measurement{ThroughputMsgs: 20000, ThroughputBytes: 20e6, PublishP99: 0.005 * j, E2EP99: 0.008 * j})
		r.Start = time.Date(2026, 12, 4, 12, 0, i, 0, time.UTC)
		recs = append(recs, r)
	}
	a := analysisOf(t, p, recs)
	dir := t.TempDir()
	writeRecovery(t, dir, map[int]map[string][]float64{
		1: {"cold": {6.2, 6.0, 4.6, 5.8, 6.4}, "warm": {2.9, 2.7, 2.8, 3.0, 2.85}},
		4: {"cold": {3.3, 3.1, 3.0, 3.4, 3.2}, "warm": {1.9, 1.8, 1.85, 1.95, 1.88}},
	})
	if err := a.ReadBeside(dir, Host{Disks: []string{"vda"}, Netem: "no", NetemWhy: "CONFIG_NET_SCH_NETEM is not set in /proc/config.gz"}); err != nil {
		t.Fatal(err)
	}
	rows, err := SeedVerdicts(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		t.Logf("%s | %s | %.150s", r.Advice, r.Verdict, r.Evidence)
		if r.Verdict == "not measured" || strings.HasPrefix(r.Verdict, "too few") {
			t.Errorf("%s: %s: %s", r.Advice, r.Verdict, r.Evidence)
		}
		if r.Verdict == notMeasurable && !strings.Contains(r.Evidence, "this host") {
			t.Errorf("%s: not measurable without saying why: %s", r.Advice, r.Evidence)
		}
	}
}
