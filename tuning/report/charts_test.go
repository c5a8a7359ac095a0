package report

import (
	"regexp"
	"strings"
	"testing"

	"gonum.org/v1/plot"

	"github.com/brokerlab/brokerlab/loadgen"
	"github.com/brokerlab/brokerlab/tuning"
)

func TestChartLabelsNameTheCellsSettings(t *testing.T) {
	a := testAnalysis(t)
	m, err := tuning.MetricByKey("throughput")
	if err != nil {
		t.Fatal(err)
	}
	p, ok, err := boxChart(a, m, 0)
	if err != nil || !ok {
		t.Fatalf("box chart: ok %v, %v", ok, err)
	}
	var labels []string
	for _, tk := range p.X.Tick.Marker.Ticks(p.X.Min, p.X.Max) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if len(labels) != len(a.Cells) {
		t.Fatalf("x labels %q, want one per cell (%d)", labels, len(a.Cells))
	}
	id := regexp.MustCompile(`^c\d+$`)
	for i, l := range labels {
		if id.MatchString(l) || l != strings.ReplaceAll(a.Cells[i].Cell.Name, ",", "\n") {
			t.Errorf("x label %q, want the cell's settings %q", l, a.Cells[i].Cell.Name)
		}
	}
	two := &CellResult{Cell: tuning.Cell{ID: "c07", Name: "fs=xfs,flush=fsync-on-ack"}}
	if got := cellLabel(two); got != "fs=xfs\nflush=fsync-on-ack" {
		t.Errorf("a two-setting cell's label is %q, want one setting per line", got)
	}
}

func TestChartScaleFollowsTheSpread(t *testing.T) {
	for _, c := range []struct {
		values []float64
		log    bool
	}{
		{[]float64{20, 25, 40}, false},     // throughput of cells alike
		{[]float64{0.5, 0.8, 5.5}, true},   // page cache vs fsync before ack: 11x
		{[]float64{0, 3, 300}, false},      // a zero cannot go on a log axis
		{[]float64{99.9, 100, 100}, false}, // page-cache hits
		{nil, false},
	} {
		if got := useLogScale(c.values); got != c.log {
			t.Errorf("useLogScale(%v) = %v, want %v", c.values, got, c.log)
		}
	}

	// A plan whose flush policy moves publish p99 by 50x gets a log axis.
	p := &tuning.Plan{Name: "flush", Objective: "publish_p99"}
	a := &Analysis{Plan: p, Cells: []*CellResult{
		{Cell: tuning.Cell{ID: "c01", Name: "flush=page-cache"}, Values: map[string][]float64{"publish_p99": {0.0010, 0.0012, 0.0011}}},
		{Cell: tuning.Cell{ID: "c02", Name: "flush=fsync-on-ack"}, Values: map[string][]float64{"publish_p99": {0.050, 0.061, 0.055}}},
	}}
	m, _ := tuning.MetricByKey("publish_p99")
	pl, ok, err := boxChart(a, m, 0)
	if err != nil || !ok {
		t.Fatalf("box chart: ok %v, %v", ok, err)
	}
	if _, isLog := pl.Y.Scale.(plot.LogScale); !isLog || !strings.Contains(pl.Y.Label.Text, "log scale") {
		t.Errorf("publish p99 of 1 ms vs 55 ms: y scale %T, label %q; want a log scale, said in the label", pl.Y.Scale, pl.Y.Label.Text)
	}
}

func TestChartInputsFromTheLoadGenerator(t *testing.T) {
	a := testAnalysis(t)
	fixed := &loadgen.Result{Workload: loadgen.Workload{MessageSize: 1024}, Aggregate: loadgen.Aggregate{TargetRate: 20000},
		Curves: loadgen.Curves{PublishLatency: []loadgen.CurvePoint{{Percentile: 50, ValueUs: 800}, {Percentile: 99, ValueUs: 5000}}}}
	searched := &loadgen.Result{Workload: loadgen.Workload{MessageSize: 1024}, Aggregate: loadgen.Aggregate{TargetRate: 90000},
		RateSearch: &loadgen.RateSearch{MaxSustainable: 100000}}
	if got := targetBytes(map[string]*loadgen.Result{"runs/c01-r1.json": searched}); got != 0 {
		t.Errorf("a searched rate is no target: got %v", got)
	}
	if got := targetBytes(map[string]*loadgen.Result{"runs/c01-r1.json": fixed}); got != 20000*1024 {
		t.Errorf("target %v B/s, want 20000 msg/s x 1 KiB", got)
	}

	m, _ := tuning.MetricByKey("throughput")
	pl, _, err := boxChart(a, m, 60e6)
	if err != nil {
		t.Fatal(err)
	}
	if pl.Y.Max < 60 {
		t.Errorf("y axis ends at %v MB/s, below the 60 MB/s target line", pl.Y.Max)
	}

	// One curve per run, coloured by cell, each cell once in the legend.
	runs := map[string]*loadgen.Result{}
	for _, c := range a.Cells[:2] {
		for _, f := range c.Files {
			runs[f] = fixed
		}
	}
	series := percentileSeries(a, runs, func(r *loadgen.Result) []loadgen.CurvePoint { return r.Curves.PublishLatency })
	want := len(a.Cells[0].Files) + len(a.Cells[1].Files)
	var legend []string
	for _, s := range series {
		if s.Label != "" {
			legend = append(legend, s.Label)
		}
	}
	if len(series) != want || strings.Join(legend, "|") != a.Cells[0].Cell.Name+"|"+a.Cells[1].Cell.Name {
		t.Errorf("%d series with legend %q, want %d (one per run) named once per cell", len(series), legend, want)
	}
	if series[len(series)-1].Color != 1 {
		t.Errorf("the second cell's runs drawn in colour %d, want 1", series[len(series)-1].Color)
	}
}

func TestLogAxisIsLabelledBetweenPowersOfTen(t *testing.T) {
	var labels []string
	for _, tk := range (labelledLogTicks{}).Ticks(18, 230) {
		labels = append(labels, tk.Label)
	}
	if got := strings.Join(labels, " "); got != "20 50 100 200" {
		t.Errorf("ticks of 18..230: %q, want \"20 50 100 200\"", got)
	}
}
