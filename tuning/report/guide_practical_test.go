package report

import (
	"strings"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/tuning"
	"github.com/brokerlab/brokerlab/tuning/stats"
)

// The guide reports as findings only changes that are significant and
// practical: a page-cache hit rate of 99.98% against 100.0% is significant
// on tight samples and means nothing, and an fsync p50 that moved by
// exactly one log2 bucket is the histogram's resolution.
func TestGuideDoesNotFlagTrivialOrBucketChanges(t *testing.T) {
	p, recs := testRecords(t)
	for i := range recs {
		r := &recs[i]
		j := float64(r.Repetition) * 1e-6
		hit, fsync := 0.9998+j, 0.002
		if r.CellName == "fs=xfs" {
			hit, fsync = 1.0-j, 0.001 // one bucket down: 2 ms -> 1 ms
		}
		r.Measurement.PageCacheHitRate = &hit
		f50 := fsync * (1 + j)
		r.Measurement.FsyncP50 = &f50
	}
	a := analysisOf(t, p, recs)
	g, err := newGuide(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range g.findings["fs"] {
		for _, key := range []string{"page_cache_hit", "fsync_p50"} {
			m, _ := tuning.MetricByKey(key)
			c := g.cs.get(f.p, key)
			if !c.Significant {
				t.Fatalf("%s: the test wants a significant change (p=%.3f), or it tests nothing", key, c.AdjustedP)
			}
			if v := g.verdictOf(m, c); v == "better" || v == "worse" {
				t.Errorf("%s %v -> %v: verdict %q, want no finding", key, c.Base.Center, c.New.Center, v)
			}
		}
		if ev := g.evidence(f.p); strings.Contains(ev, "page-cache hits 99.98") || strings.Contains(ev, "fsync p50 2") {
			t.Errorf("evidence flags a trivial change: %s", ev)
		}
	}
}

// Without a finding the guide never writes "Recommended", and every
// comparison that found nothing states its MDE with the sample sizes.
func TestGuideRecommendsOnlyFindings(t *testing.T) {
	p, recs := testRecords(t)
	// Make fs=xfs's publish p99 noisy around the baseline: no finding.
	noise := []float64{0.6, 1.5, 0.8, 1.35, 0.95, 1.6}
	for i := range recs {
		if r := &recs[i]; r.CellName == "fs=xfs" {
			r.Measurement.PublishP99 = 0.010 * noise[r.Repetition-1]
		}
	}
	guide := guideText(t, analysisOf(t, p, recs))
	got := guide
	if strings.Contains(got, "Recommended: fs") || strings.Contains(got, "Recommended: keep") {
		t.Errorf("a recommendation without a finding:\n%s", got)
	}
	guideHas(t, got,
		"**Inconclusive — keep what you have (fs = ext4)**: no level changed publish p99 as a finding; no difference larger than ±",
		"was detectable at n=6+6",
	)
}

// A sequential plan's guide says why it stopped and how precise each
// targeted comparison got, and where the broker and load generator ran.
func TestGuideReportsTheStoppingRule(t *testing.T) {
	p, recs := testRecords(t)
	p.Sequential = &tuning.Sequential{MinRepetitions: 6, Budget: 40 * time.Minute,
		Targets: []tuning.Target{{Metric: "publish_p99", HalfWidth: 0.15}}}
	p.Invocation = &tuning.Invocation{Stop: &tuning.StopReport{Rounds: 6, Reason: tuning.StopBudget, Elapsed: 39 * time.Minute,
		HalfWidths: []tuning.HalfWidth{{Metric: "publish_p99", Base: "c01 baseline", Cell: "c03 fs=xfs", Value: 0.213, Target: 0.15}}}}
	for i := range recs {
		recs[i].Pinning = &tuning.Pinning{Broker: []int{1}, Load: []int{0}, Method: "sched_setaffinity"}
	}
	guide := guideText(t, analysisOf(t, p, recs))
	guideHas(t, guide,
		"This run stopped after **6 rounds** in 39m0s: the time budget (40m0s) would not fit another round",
		"| publish_p99 | c01 baseline | c03 fs=xfs | ±21.3%            | ±15%   | no  |",
		"CPU pinning: broker on CPU [1], load generator (the lab) on CPU [0] (sched_setaffinity).",
		"6 repetitions",
	)
}

// Holm corrects each knob's comparisons as one family: a dimension with a
// single pair of cells keeps its raw p-value, one with two pairs is
// corrected for two, whatever the other dimensions compare; the same two
// cells compared both ways round are one test.
func TestHolmFamilyIsOneDimension(t *testing.T) {
	g, err := newGuide(testAnalysis(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range g.a.Plan.Matrix {
		var ps []*stats.Comparison
		seen := map[[2]string]bool{}
		for i, p := range g.cs.pairs {
			a, b := p.base.Cell.ID, p.cell.Cell.ID
			if a > b {
				a, b = b, a
			}
			if c := g.cs.get(p, g.obj.Key); c != nil && g.cs.dims[i] == d.Name && !seen[[2]string{a, b}] {
				seen[[2]string{a, b}] = true
				ps = append(ps, c)
			}
		}
		if n := g.cs.family(d.Name); n != len(ps) {
			t.Errorf("%s: family of %d pairs, want its %d pairs of cells", d.Name, n, len(ps))
		}
		if len(ps) == 1 && ps[0].AdjustedP != ps[0].P {
			t.Errorf("%s: one comparison, adjusted p %v != raw p %v", d.Name, ps[0].AdjustedP, ps[0].P)
		}
		if len(ps) == 2 {
			lo := min(ps[0].P, ps[1].P)
			for _, c := range ps {
				if c.P == lo && c.AdjustedP != min(1, 2*lo) {
					t.Errorf("%s: smallest p %v adjusted to %v, want ×2 for a family of 2", d.Name, lo, c.AdjustedP)
				}
			}
		}
	}
}
