package loadgen

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// RenderTable writes the results side by side, one column per result, as
// a terminal table or (markdown) a GitHub-flavoured Markdown table.
func RenderTable(w io.Writer, results []*Result, markdown bool) error {
	opts := []tablewriter.Option{
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: rowAligns(len(results))}),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
	}
	if markdown {
		opts = append(opts, tablewriter.WithRenderer(renderer.NewMarkdown()))
	}
	t := tablewriter.NewTable(w, opts...)
	header := []any{"metric"}
	for _, r := range results {
		header = append(header, r.Label)
	}
	t.Header(header...)
	for _, row := range tableRows(results) {
		cells := make([]any, len(row))
		for i, c := range row {
			cells[i] = c
		}
		if err := t.Append(cells...); err != nil {
			return fmt.Errorf("rendering table: %w", err)
		}
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("rendering table: %w", err)
	}
	return nil
}

func rowAligns(n int) []tw.Align {
	a := []tw.Align{tw.AlignLeft}
	for i := 0; i < n; i++ {
		a = append(a, tw.AlignRight)
	}
	return a
}

// tableRows builds the rows: a metric name, then one cell per result.
func tableRows(results []*Result) [][]string {
	var rows [][]string
	add := func(name string, cell func(r *Result) string) {
		row := []string{name}
		filled := false
		for _, r := range results {
			c := cell(r)
			if c != "" {
				filled = true
			} else {
				c = "-"
			}
			row = append(row, c)
		}
		if filled {
			rows = append(rows, row)
		}
	}
	add("workload", func(r *Result) string { return r.Workload.Name })
	add("topics x partitions", func(r *Result) string {
		return fmt.Sprintf("%d x %d", r.Workload.Topics, r.Workload.PartitionsPerTopic)
	})
	add("message size", func(r *Result) string { return fmt.Sprintf("%d B", r.Workload.MessageSize) })
	add("producers / consumers", func(r *Result) string {
		return fmt.Sprintf("%d / %d", r.Workload.Producers(), r.Workload.Consumers())
	})
	add("driver", func(r *Result) string {
		p := r.Driver.Producer
		return fmt.Sprintf("%s: acks=%s idem=%t linger=%v batch=%d %s", r.Driver.Name, p.Acks, p.Idempotent, p.Linger, p.BatchBytes, p.Compression)
	})
	add("target", func(r *Result) string {
		s := strings.Join(r.Target.Brokers, ",")
		if r.Target.Name != "" {
			s = r.Target.Name + " " + s
		}
		return s
	})
	add("target rate", func(r *Result) string {
		switch {
		case r.Aggregate.TargetRate == 0:
			return "unpaced"
		case r.RateSearch != nil:
			return fmt.Sprintf("%.0f msg/s (searched)", r.Aggregate.TargetRate)
		}
		return fmt.Sprintf("%.0f msg/s", r.Aggregate.TargetRate)
	})
	add("max sustainable", func(r *Result) string {
		if r.RateSearch == nil {
			return ""
		}
		return fmt.Sprintf("%.0f msg/s", r.RateSearch.MaxSustainable)
	})
	add("target held", func(r *Result) string {
		if r.Aggregate.TargetRate == 0 {
			return ""
		}
		if r.Verdict.TargetHeld {
			return fmt.Sprintf("yes (%.1f%%)", 100*r.Verdict.AchievedRatio)
		}
		return fmt.Sprintf("NO (%.1f%%)", 100*r.Verdict.AchievedRatio)
	})
	add("measured", func(r *Result) string { return fmt.Sprintf("%.1f s", r.Aggregate.Seconds) })
	add("publish rate", func(r *Result) string { return fmt.Sprintf("%.0f msg/s", r.Aggregate.PublishRate) })
	add("publish MB/s", func(r *Result) string {
		s := fmt.Sprintf("%.2f", r.Aggregate.PublishMBps)
		if t := r.Ceilings.ShareText("tcp", r.Aggregate.PublishMBps); t != "" {
			s += " (" + t + ")"
		}
		return s
	})
	add("consume rate", func(r *Result) string {
		if r.Workload.Consumers() == 0 {
			return ""
		}
		return fmt.Sprintf("%.0f msg/s", r.Aggregate.ConsumeRate)
	})
	add("consume MB/s", func(r *Result) string {
		if r.Workload.Consumers() == 0 {
			return ""
		}
		s := fmt.Sprintf("%.2f", r.Aggregate.ConsumeMBps)
		if t := r.Ceilings.ShareText("sendfile", r.Aggregate.ConsumeMBps); t != "" {
			s += " (" + t + ")"
		}
		return s
	})
	add("errors", func(r *Result) string { return fmt.Sprint(r.Aggregate.Errors) })
	lat := []struct {
		name string
		get  func(r *Result) Quantiles
		qs   []string
	}{
		{"publish latency", func(r *Result) Quantiles { return r.Aggregate.PublishLatency }, []string{"p50", "p99", "p99.9", "max"}},
		{"publish delay", func(r *Result) Quantiles { return r.Aggregate.PublishDelay }, []string{"p50", "p99", "max"}},
		{"end-to-end", func(r *Result) Quantiles { return r.Aggregate.EndToEnd }, []string{"p50", "p75", "p95", "p99", "p99.9", "p99.99", "max"}},
	}
	for _, l := range lat {
		for _, q := range l.qs {
			add(l.name+" "+q, func(r *Result) string {
				v := l.get(r)
				if v.Count == 0 {
					return ""
				}
				return fmtUs(v.pick(q))
			})
		}
	}
	add("backlog", func(r *Result) string {
		b := r.Backlog
		if b == nil {
			return ""
		}
		if !b.Drained {
			return fmt.Sprintf("NOT drained (%d left)", b.LeftMessages)
		}
		return fmt.Sprintf("%.1f MB built in %.1f s, drained in %.1f s at %.1f MB/s", float64(b.BuiltBytes)/1e6, b.BuildSeconds, b.DrainSeconds, b.DrainMBps)
	})
	add("kernel", func(r *Result) string { return r.Environment.Kernel })
	add("log dir fs", func(r *Result) string {
		if r.Environment.FSType == "" {
			return ""
		}
		return r.Environment.FSType + " on " + r.Environment.Device
	})
	add("ceiling write / fsync", func(r *Result) string {
		if r.Ceilings == nil {
			return ""
		}
		return fmt.Sprintf("%.0f / %.0f MB/s", r.Ceilings.WriteMBps, r.Ceilings.FsyncMBps)
	})
	add("ceiling sendfile / tcp", func(r *Result) string {
		if r.Ceilings == nil {
			return ""
		}
		return fmt.Sprintf("%.0f / %.0f MB/s", r.Ceilings.SendfileMBps, r.Ceilings.TCPMBps)
	})
	return rows
}

// fmtPercent keeps two significant digits of small percentages.
func fmtPercent(p float64) string {
	if p < 1 {
		return fmt.Sprintf("%.2g%%", p)
	}
	return fmt.Sprintf("%.1f%%", p)
}

// pick returns the named quantile (p50, p75, p95, p99, p99.9, p99.99, max).
func (q Quantiles) pick(name string) int64 {
	switch name {
	case "p50":
		return q.P50Us
	case "p75":
		return q.P75Us
	case "p95":
		return q.P95Us
	case "p99":
		return q.P99Us
	case "p99.9":
		return q.P999Us
	case "p99.99":
		return q.P9999Us
	}
	return q.MaxUs
}

// WriteSummary writes the final summary of one run: its table, the
// verdict's reasons and, when the rate was searched, the search steps.
func WriteSummary(w io.Writer, r *Result) error {
	if err := RenderTable(w, []*Result{r}, false); err != nil {
		return err
	}
	if r.RateSearch != nil {
		fmt.Fprintf(w, "rate search: %s\n", r.RateSearch.Method)
		for _, s := range r.RateSearch.Steps {
			verdict := "pass"
			if !s.OK {
				verdict = "fail: " + s.Reason
			}
			fmt.Fprintf(w, "  %10.0f msg/s: acked %.0f msg/s, delay p99 %s, behind schedule %s, unacked %+d, backlog %+d: %s\n",
				s.Rate, s.Achieved, fmtUs(s.PublishDelayUs), fmtUs(s.ScheduleLagUs), s.InFlightGrowth, s.BacklogGrowth, verdict)
		}
		fmt.Fprintf(w, "  settled at %.0f msg/s\n", r.RateSearch.SettledRate)
	}
	if r.Backlog != nil {
		fmt.Fprintf(w, "backlog: %s\n", r.Backlog.StopCondition)
	}
	if r.Aggregate.TargetRate > 0 {
		if r.Verdict.TargetHeld {
			fmt.Fprintf(w, "target rate held: %.1f%% of %.0f msg/s\n", 100*r.Verdict.AchievedRatio, r.Aggregate.TargetRate)
		} else {
			fmt.Fprintf(w, "TARGET RATE NOT HELD\n")
		}
	}
	for _, s := range r.Verdict.Reasons {
		fmt.Fprintf(w, "  - %s\n", s)
	}
	return nil
}

// WriteCharts draws, for the results together, the latency-quantile curves
// (publish latency and end-to-end) and the publish/consume throughput over
// time, each as PNG and SVG in dir. It returns the files written.
func WriteCharts(dir string, results []*Result) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating chart dir: %w", err)
	}
	var files []string
	charts := []struct {
		name string
		make func([]*Result) (*plot.Plot, error)
	}{
		{"latency-quantiles", quantilePlot},
		{"throughput", throughputPlot},
	}
	for _, c := range charts {
		p, err := c.make(results)
		if err != nil {
			return files, err
		}
		for _, ext := range []string{"png", "svg"} {
			f := filepath.Join(dir, c.name+"."+ext)
			if err := p.Save(8*vg.Inch, 5*vg.Inch, f); err != nil {
				return files, fmt.Errorf("saving chart %s: %w", f, err)
			}
			files = append(files, f)
		}
	}
	return files, nil
}

// nines maps a percentile to the "number of nines" axis: 90 -> 1, 99 -> 2.
func nines(p float64) float64 {
	if p >= 100 {
		p = 99.9999
	}
	return -math.Log10(1 - p/100)
}

var palette = []color.Color{
	color.RGBA{R: 31, G: 119, B: 180, A: 255},
	color.RGBA{R: 214, G: 39, B: 40, A: 255},
	color.RGBA{R: 44, G: 160, B: 44, A: 255},
	color.RGBA{R: 148, G: 103, B: 189, A: 255},
	color.RGBA{R: 255, G: 127, B: 14, A: 255},
	color.RGBA{R: 140, G: 86, B: 75, A: 255},
}

func quantilePlot(results []*Result) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Latency by percentile"
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (ms, log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.X.Tick.Marker = plot.ConstantTicks([]plot.Tick{
		{Value: nines(0), Label: "0%"}, {Value: nines(50), Label: "50%"}, {Value: nines(90), Label: "90%"},
		{Value: nines(99), Label: "99%"}, {Value: nines(99.9), Label: "99.9%"}, {Value: nines(99.99), Label: "99.99%"},
		{Value: nines(99.999), Label: "99.999%"},
	})
	p.Legend.Top = true
	p.Legend.Left = true
	for i, r := range results {
		for j, c := range []struct {
			name  string
			curve []CurvePoint
		}{{"e2e", r.Curves.EndToEnd}, {"publish", r.Curves.PublishLatency}} {
			if len(c.curve) == 0 {
				continue
			}
			pts := make(plotter.XYs, 0, len(c.curve))
			for _, cp := range c.curve {
				if cp.Percentile >= 100 {
					continue
				}
				pts = append(pts, plotter.XY{X: nines(cp.Percentile), Y: math.Max(float64(cp.ValueUs), 1) / 1000})
			}
			l, err := plotter.NewLine(pts)
			if err != nil {
				return nil, fmt.Errorf("latency curve of %s: %w", r.Label, err)
			}
			l.Color = palette[i%len(palette)]
			l.Width = vg.Points(1.5)
			if j == 1 {
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			}
			p.Add(l)
			p.Legend.Add(r.Label+" "+c.name, l)
		}
	}
	return p, nil
}

func throughputPlot(results []*Result) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Throughput per window"
	p.X.Label.Text = "time since start (s)"
	p.Y.Label.Text = "messages/s"
	p.Legend.Top = true
	for i, r := range results {
		var pub, cons plotter.XYs
		for _, w := range r.Windows {
			// The tail and windows cut short by a phase end would plot
			// as spikes of a few records over a few milliseconds.
			if w.Phase == PhaseTail || w.Seconds < 0.5*r.WindowSeconds {
				continue
			}
			x := w.StartSeconds + w.Seconds/2
			pub = append(pub, plotter.XY{X: x, Y: w.PublishRate})
			cons = append(cons, plotter.XY{X: x, Y: w.ConsumeRate})
		}
		if len(pub) == 0 {
			continue
		}
		l, err := plotter.NewLine(pub)
		if err != nil {
			return nil, fmt.Errorf("throughput of %s: %w", r.Label, err)
		}
		l.Color = palette[i%len(palette)]
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(r.Label+" publish", l)
		if r.Workload.Consumers() > 0 {
			lc, err := plotter.NewLine(cons)
			if err != nil {
				return nil, fmt.Errorf("throughput of %s: %w", r.Label, err)
			}
			lc.Color = palette[i%len(palette)]
			lc.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			lc.Width = vg.Points(1)
			p.Add(lc)
			p.Legend.Add(r.Label+" consume", lc)
		}
	}
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	return p, nil
}

// RenderCeilings writes the ceilings as a two-column table.
func RenderCeilings(w io.Writer, c *Ceilings, markdown bool) error {
	opts := []tablewriter.Option{
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: rowAligns(1)}),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
	}
	if markdown {
		opts = append(opts, tablewriter.WithRenderer(renderer.NewMarkdown()))
	}
	t := tablewriter.NewTable(w, opts...)
	t.Header("ceiling", fmt.Sprintf("%s (%s on %s)", c.Dir, c.FSType, c.Device))
	rows := [][]any{
		{"sequential write + one fsync", fmt.Sprintf("%.0f MB/s", c.WriteMBps)},
		{"write + fdatasync per block", fmt.Sprintf("%.0f MB/s", c.FsyncMBps)},
		{"fdatasync p50 / p99", fmtUs(c.FsyncP50Us) + " / " + fmtUs(c.FsyncP99Us)},
		{"sendfile, cached file, loopback", fmt.Sprintf("%.0f MB/s", c.SendfileMBps) + streamsText(c.SendfileStreams, c)},
		{"TCP copy, loopback", fmt.Sprintf("%.0f MB/s", c.TCPMBps) + streamsText(c.TCPStreams, c)},
		{"block / seconds each", fmt.Sprintf("%d B / %.1f s", c.BlockBytes, c.SecondsEach)},
	}
	for _, r := range rows {
		if err := t.Append(r...); err != nil {
			return fmt.Errorf("rendering ceilings: %w", err)
		}
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("rendering ceilings: %w", err)
	}
	return nil
}

// streamsText says how a loopback ceiling was reached.
func streamsText(streams int, c *Ceilings) string {
	if streams == 0 {
		return " (one stream: may be below a fast client)"
	}
	return fmt.Sprintf(" (best of %d rounds; %d stream(s), %d KiB reads)", c.LoopbackRuns, streams, c.ReadBytes>>10)
}

// ReadCeilings reads a ceilings JSON file written by `lab ceilings -out`.
func ReadCeilings(path string) (*Ceilings, error) {
	var c Ceilings
	if err := readJSON(path, "ceilings", &c); err != nil {
		return nil, err
	}
	return &c, nil
}
