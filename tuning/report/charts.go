package report

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/brokerlab/brokerlab/internal/fsutil"
	"github.com/brokerlab/brokerlab/loadgen"
	"github.com/brokerlab/brokerlab/tuning"
)

// chartMetrics are the metrics that get a chart when measured.
var chartMetrics = []string{"throughput", "publish_p99", "e2e_p99", "fsync_p99", "page_cache_hit"}

// logSpan is the ratio of the largest to the smallest value above which a
// chart's y axis is logarithmic: past 10x, a linear axis squashes the small
// cells (page cache next to fsync before ack) onto zero.
const logSpan = 10

// WriteCharts writes PNG charts into dir (a sweep's result dir's charts/):
// for each headline metric, a box plot of each cell's runs (median,
// quartiles, whiskers) with every run drawn as a point, so the spread
// behind a median is visible, on a log scale when the cells span more than
// logSpan, with the workload's target rate drawn on the throughput chart;
// and, from the load generator's results beside the run files, publish and
// end-to-end latency by percentile per cell. It returns the files written,
// relative to dir.
func WriteCharts(dir string, a *Analysis) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	runs := loadgenRuns(filepath.Dir(dir), a)
	var files []string
	save := func(p *plot.Plot, name string, w, h vg.Length) error {
		err := fsutil.WriteFileWith(filepath.Join(dir, name), func(f *os.File) error {
			wt, err := p.WriterTo(w, h, "png")
			if err == nil {
				_, err = wt.WriteTo(f)
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("writing chart %s: %w", name, err)
		}
		files = append(files, name)
		return nil
	}
	for _, key := range chartMetrics {
		m, err := tuning.MetricByKey(key)
		if err != nil {
			return files, err
		}
		target := 0.0
		if key == "throughput" {
			target = targetBytes(runs)
		}
		p, ok, err := boxChart(a, m, target)
		if err != nil {
			return files, err
		}
		if !ok {
			continue
		}
		if err := save(p, key+".png", 9*vg.Inch, 4.5*vg.Inch); err != nil {
			return files, err
		}
	}
	for _, c := range []struct {
		name, title string
		curve       func(*loadgen.Result) []loadgen.CurvePoint
	}{
		{"publish_latency_percentiles", "publish latency", func(r *loadgen.Result) []loadgen.CurvePoint { return r.Curves.PublishLatency }},
		{"e2e_latency_percentiles", "end-to-end latency", func(r *loadgen.Result) []loadgen.CurvePoint { return r.Curves.EndToEnd }},
	} {
		series := percentileSeries(a, runs, c.curve)
		if len(series) == 0 {
			continue
		}
		p, err := loadgen.PercentilePlot(fmt.Sprintf("%s: %s by percentile, every run (one colour per cell)", a.Plan.Name, c.title), series)
		if err != nil {
			return files, err
		}
		if err := save(p, c.name+".png", 8*vg.Inch, 5*vg.Inch); err != nil {
			return files, err
		}
	}
	return files, nil
}

// loadgenRuns reads the load generator's result of every run in resultDir
// that names one, by run file; runs without one are left out.
func loadgenRuns(resultDir string, a *Analysis) map[string]*loadgen.Result {
	recs, err := tuning.ReadRecords(resultDir)
	if err != nil {
		return nil
	}
	out := map[string]*loadgen.Result{}
	for _, r := range recs {
		if r.LoadgenResult == "" {
			continue
		}
		res, err := loadgen.ReadResult(filepath.Join(resultDir, r.LoadgenResult))
		if err == nil {
			out[r.File] = res
		}
	}
	return out
}

// targetBytes is the workload's target rate in bytes/s (every run of a plan
// has the same workload), 0 when unknown or when the runs searched for the
// maximum rate instead.
func targetBytes(runs map[string]*loadgen.Result) float64 {
	for _, r := range runs {
		if r.Aggregate.TargetRate > 0 && r.RateSearch == nil {
			return r.Aggregate.TargetRate * float64(r.Workload.MessageSize)
		}
	}
	return 0
}

// percentileSeries is one curve per run, coloured by cell, the cell named
// once in the legend.
func percentileSeries(a *Analysis, runs map[string]*loadgen.Result, curve func(*loadgen.Result) []loadgen.CurvePoint) []loadgen.PercentileSeries {
	var out []loadgen.PercentileSeries
	for i, c := range a.Cells {
		label := c.Cell.Name
		for _, f := range c.Files {
			r := runs[f]
			if r == nil || len(curve(r)) == 0 {
				continue
			}
			out = append(out, loadgen.PercentileSeries{Label: label, Curve: curve(r), Color: i, Thin: true})
			label = ""
		}
	}
	return out
}

// cellLabel is a cell's x label: its settings, one per line ("fs=xfs",
// "flush=fsync-on-ack"), rather than its id.
func cellLabel(c *CellResult) string {
	return strings.ReplaceAll(c.Cell.Name, ",", "\n")
}

// useLogScale says whether values (all shown on one axis) span more than
// logSpan; a log axis needs them all above zero.
func useLogScale(values []float64) bool {
	if len(values) == 0 || slices.Min(values) <= 0 {
		return false
	}
	return slices.Max(values)/slices.Min(values) > logSpan
}

// boxChart plots metric m for every cell, with a horizontal line at target
// (in base units; 0 for none); ok is false when no cell has m.
func boxChart(a *Analysis, m tuning.Metric, target float64) (*plot.Plot, bool, error) {
	p := plot.New()
	unit := ""
	if m.Unit != "" {
		unit = " (" + m.Unit + ")"
	}
	var all []float64
	for _, c := range a.Cells {
		for _, x := range c.Values[m.Key] {
			all = append(all, x*m.Scale)
		}
	}
	if len(all) == 0 {
		return nil, false, nil
	}
	logScale := useLogScale(all)
	p.Title.Text = fmt.Sprintf("%s: %s per cell (box: quartiles of the runs; dots: each run)", a.Plan.Name, m.Title)
	p.Y.Label.Text = m.Title + unit
	if logScale {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = labelledLogTicks{}
		p.Y.Label.Text += ", log scale"
	}
	var names []string
	for i, c := range a.Cells {
		names = append(names, cellLabel(c))
		vals := c.Values[m.Key]
		if len(vals) == 0 {
			continue
		}
		v := make(plotter.Values, len(vals))
		pts := make(plotter.XYs, len(vals))
		for j, x := range vals {
			v[j] = x * m.Scale
			pts[j] = plotter.XY{X: float64(i), Y: x * m.Scale}
		}
		box, err := plotter.NewBoxPlot(vg.Points(18), float64(i), v)
		if err != nil {
			return nil, false, fmt.Errorf("charting %s of %s: %w", m.Key, c.Cell.ID, err)
		}
		p.Add(box)
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, false, err
		}
		sc.GlyphStyle.Radius = vg.Points(2)
		p.Add(sc)
	}
	if target > 0 {
		t := target * m.Scale
		l, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: t}, {X: float64(len(a.Cells)) - 0.5, Y: t}})
		if err != nil {
			return nil, false, err
		}
		l.Color = color.Gray{Y: 80}
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("target rate (%s %s)", num(t), m.Unit), l)
		p.Legend.Top = true
		if !logScale {
			// From zero: a rate held within a fraction of a percent
			// reads as held, not as a spread.
			p.Y.Min, p.Y.Max = 0, math.Max(p.Y.Max, 1.1*t)
		}
	}
	p.NominalX(names...)
	// Half a slot of margin each side, so the outer boxes are not cut.
	p.X.Min, p.X.Max = -0.5, float64(len(a.Cells))-0.5
	p.X.Label.Text = "cell"
	p.Add(plotter.NewGrid())
	return p, true, nil
}

// labelledLogTicks labels a log axis at 1, 2 and 5 times each power of ten,
// so that an axis spanning 10x to 100x has more than one number on it
// (plot.LogTicks labels the powers of ten only).
type labelledLogTicks struct{}

func (labelledLogTicks) Ticks(lo, hi float64) []plot.Tick {
	if lo <= 0 || hi <= lo {
		return nil
	}
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v >= lo && v <= hi {
				ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
			}
		}
	}
	return ticks
}
