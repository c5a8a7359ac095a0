package report

import (
	"fmt"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/brokerlab/brokerlab/tuning"
)

// chartMetrics are the metrics that get a chart when measured.
var chartMetrics = []string{"throughput", "publish_p99", "e2e_p99", "fsync_p99", "page_cache_hit"}

// WriteCharts writes one PNG per headline metric into dir: a box plot of
// each cell's runs (median, quartiles, whiskers) with every run drawn as a
// point, so the spread behind a median is visible. It returns the files
// written, relative to dir.
func WriteCharts(dir string, a *Analysis) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	var files []string
	for _, key := range chartMetrics {
		m, err := tuning.MetricByKey(key)
		if err != nil {
			return files, err
		}
		p, ok, err := boxChart(a, m)
		if err != nil {
			return files, err
		}
		if !ok {
			continue
		}
		name := key + ".png"
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return files, err
		}
		wt, err := p.WriterTo(9*vg.Inch, 4.5*vg.Inch, "png")
		if err == nil {
			_, err = wt.WriteTo(f)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return files, fmt.Errorf("writing chart %s: %w", name, err)
		}
		files = append(files, name)
	}
	return files, nil
}

// boxChart plots metric m for every cell; ok is false when no cell has it.
func boxChart(a *Analysis, m tuning.Metric) (*plot.Plot, bool, error) {
	p := plot.New()
	unit := ""
	if m.Unit != "" {
		unit = " (" + m.Unit + ")"
	}
	p.Title.Text = fmt.Sprintf("%s: %s per cell", a.Plan.Name, m.Title)
	p.Y.Label.Text = m.Title + unit
	var names []string
	any := false
	for i, c := range a.Cells {
		names = append(names, c.Cell.ID)
		vals := c.Values[m.Key]
		if len(vals) == 0 {
			continue
		}
		any = true
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
	if !any {
		return nil, false, nil
	}
	p.NominalX(names...)
	p.X.Label.Text = "cell (see tables.md for the levels)"
	p.Add(plotter.NewGrid())
	return p, true, nil
}
