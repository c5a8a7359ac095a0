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
			switch {
			case !s.OK && s.FailedWindows > 1:
				verdict = fmt.Sprintf("fail (%d windows in a row): %s", s.FailedWindows, s.Reason)
			case !s.OK:
				verdict = "fail: " + s.Reason
			case s.Forgiven != "":
				verdict = "pass after a window that failed: " + s.Forgiven
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

// WriteCharts draws, for the results together, PNG charts into dir: the
// latency by percentile (publish latency and end-to-end), the throughput of
// the held phases (warm-up and measured) against the target rate, and, when
// a result searched for its maximum rate, the search's ramp on a chart of its
// own. It returns the files written.
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
		{"rate-search", searchPlot},
	}
	for _, c := range charts {
		p, err := c.make(results)
		if err != nil {
			return files, err
		}
		if p == nil {
			continue
		}
		f := filepath.Join(dir, c.name+".png")
		if err := p.Save(8*vg.Inch, 5*vg.Inch, f); err != nil {
			return files, fmt.Errorf("saving chart %s: %w", f, err)
		}
		files = append(files, f)
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

// Palette is the charts' colours, indexed by series.
var Palette = []color.Color{
	color.RGBA{R: 31, G: 119, B: 180, A: 255},
	color.RGBA{R: 214, G: 39, B: 40, A: 255},
	color.RGBA{R: 44, G: 160, B: 44, A: 255},
	color.RGBA{R: 148, G: 103, B: 189, A: 255},
	color.RGBA{R: 255, G: 127, B: 14, A: 255},
	color.RGBA{R: 140, G: 86, B: 75, A: 255},
}

// PercentileSeries is one curve of a latency-by-percentile chart.
type PercentileSeries struct {
	// Label is the legend entry ("" for none: a further run of a series
	// already in the legend).
	Label string
	Curve []CurvePoint
	// Color indexes Palette; Dashed draws the line dashed, Thin thin.
	Color        int
	Dashed, Thin bool
}

// PercentilePlot draws latency by percentile as HdrHistogram's plots do:
// the x axis in "nines" (50%, 90%, 99%, 99.9%, ...), the latency on a log
// scale, one line per series.
func PercentilePlot(title string, series []PercentileSeries) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
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
	for _, s := range series {
		pts := make(plotter.XYs, 0, len(s.Curve))
		for _, cp := range s.Curve {
			if cp.Percentile >= 100 {
				continue
			}
			pts = append(pts, plotter.XY{X: nines(cp.Percentile), Y: math.Max(float64(cp.ValueUs), 1) / 1000})
		}
		if len(pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, fmt.Errorf("latency curve %s: %w", s.Label, err)
		}
		l.Color = Palette[s.Color%len(Palette)]
		l.Width = vg.Points(1.5)
		if s.Thin {
			l.Width = vg.Points(0.7)
		}
		if s.Dashed {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l)
		if s.Label != "" {
			p.Legend.Add(s.Label, l)
		}
	}
	p.Add(plotter.NewGrid())
	return p, nil
}

func quantilePlot(results []*Result) (*plot.Plot, error) {
	var series []PercentileSeries
	for i, r := range results {
		series = append(series,
			PercentileSeries{Label: r.Label + " end-to-end", Curve: r.Curves.EndToEnd, Color: i},
			PercentileSeries{Label: r.Label + " publish", Curve: r.Curves.PublishLatency, Color: i, Dashed: true})
	}
	return PercentilePlot("Latency by percentile", series)
}

// heldSeries are a result's windows at its target rate (warm-up, measured,
// backlog build and drain): x in seconds since the first of them, the
// publish and consume rates and the target rate. The rate search's windows
// are left out (searchSeries draws them), and so are the tail and windows
// cut short by a phase end, which would plot as spikes of a few records
// over a few milliseconds.
func heldSeries(r *Result) (pub, cons, target plotter.XYs) {
	start := math.NaN()
	for _, w := range r.Windows {
		if w.Phase == PhaseSearch || w.Phase == PhaseTail || w.Seconds < 0.5*r.WindowSeconds {
			continue
		}
		if math.IsNaN(start) {
			start = w.StartSeconds
		}
		x := w.StartSeconds - start + w.Seconds/2
		pub = append(pub, plotter.XY{X: x, Y: w.PublishRate})
		cons = append(cons, plotter.XY{X: x, Y: w.ConsumeRate})
		if w.TargetRate > 0 {
			target = append(target, plotter.XY{X: x, Y: w.TargetRate})
		}
	}
	return pub, cons, target
}

// searchSeries are a result's rate-search windows: x in seconds since the
// start, the publish rate achieved and the rate asked for.
func searchSeries(r *Result) (pub, target plotter.XYs) {
	for _, w := range r.Windows {
		if w.Phase != PhaseSearch || w.Seconds < 0.5*r.WindowSeconds {
			continue
		}
		x := w.StartSeconds + w.Seconds/2
		pub = append(pub, plotter.XY{X: x, Y: w.PublishRate})
		target = append(target, plotter.XY{X: x, Y: w.TargetRate})
	}
	return pub, target
}

// addLine adds a line of pts to p with a legend entry.
func addLine(p *plot.Plot, pts plotter.XYs, label string, c color.Color, width float64, dashed bool) error {
	if len(pts) == 0 {
		return nil
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		return fmt.Errorf("chart line %s: %w", label, err)
	}
	l.Color = c
	l.Width = vg.Points(width)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	}
	p.Add(l)
	p.Legend.Add(label, l)
	return nil
}

var targetColor = color.Gray{Y: 80}

// ratePlot is an empty chart of messages/s over time.
func ratePlot(title, xLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = "messages/s"
	p.Legend.Top = true
	return p
}

func throughputPlot(results []*Result) (*plot.Plot, error) {
	p := ratePlot("Throughput at the target rate (warm-up and measured windows)", "time since the target rate was set (s)")
	for i, r := range results {
		pub, cons, target := heldSeries(r)
		c := Palette[i%len(Palette)]
		if err := addLine(p, target, r.Label+" target", targetColor, 1, true); err != nil {
			return nil, err
		}
		if err := addLine(p, pub, r.Label+" publish", c, 1.5, false); err != nil {
			return nil, err
		}
		if r.Workload.Consumers() > 0 {
			if err := addLine(p, cons, r.Label+" consume", c, 1, true); err != nil {
				return nil, err
			}
		}
	}
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	return p, nil
}

// searchPlot draws the max-rate search's ramp: the rate asked for at each
// step and the rate achieved; nil when no result searched.
func searchPlot(results []*Result) (*plot.Plot, error) {
	p := ratePlot("Max-rate search: rate asked for and achieved per window", "time since start (s)")
	p.Legend.Left = true
	any := false
	for i, r := range results {
		pub, target := searchSeries(r)
		if len(pub) == 0 {
			continue
		}
		any = true
		if err := addLine(p, target, r.Label+" asked", targetColor, 1, true); err != nil {
			return nil, err
		}
		if err := addLine(p, pub, r.Label+" achieved", Palette[i%len(Palette)], 1.5, false); err != nil {
			return nil, err
		}
		if r.RateSearch != nil && r.RateSearch.MaxSustainable > 0 {
			ms := r.RateSearch.MaxSustainable
			line := plotter.XYs{{X: pub[0].X, Y: ms}, {X: pub[len(pub)-1].X, Y: ms}}
			if err := addLine(p, line, fmt.Sprintf("%s max sustainable (%.0f msg/s)", r.Label, ms), Palette[i%len(Palette)], 0.7, true); err != nil {
				return nil, err
			}
		}
	}
	if !any {
		return nil, nil
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
		{sendfileCeilingLabel(c.SendfileFileBytes), fmt.Sprintf("%.0f MB/s", c.SendfileMBps) + streamsText(c.SendfileStreams, c.SendfileSendBuffer, c)},
		{"TCP copy, loopback", fmt.Sprintf("%.0f MB/s", c.TCPMBps) + streamsText(c.TCPStreams, c.TCPSendBuffer, c)},
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

// sendfileCeilingLabel names the sendfile ceiling by its file's size.
func sendfileCeilingLabel(fileBytes int64) string {
	if fileBytes == 0 {
		return "sendfile, cached 64 MiB file (may sit in CPU cache), loopback"
	}
	return fmt.Sprintf("sendfile, cached %d MiB file, loopback", fileBytes>>20)
}

// streamsText says how a loopback ceiling was reached.
func streamsText(streams int, sendBuffer *int, c *Ceilings) string {
	if streams == 0 {
		return " (one stream: may be below a fast client)"
	}
	sb := "autotuned send buffer only: may be below a server with a fixed one"
	switch {
	case sendBuffer == nil:
	case *sendBuffer == 0:
		sb = "autotuned send buffer"
	default:
		sb = fmt.Sprintf("%d KiB send buffer", *sendBuffer>>10)
	}
	reader := "reader in the measuring process: above what a client and a server reach"
	if c.ReaderOwnProcess {
		reader = "reader in its own process"
	}
	return fmt.Sprintf(" (best of %d rounds; %d stream(s), %d KiB reads, %s; %s)", c.LoopbackRuns, streams, c.ReadBytes>>10, sb, reader)
}

// ReadCeilings reads a ceilings JSON file written by `lab ceilings -out`.
func ReadCeilings(path string) (*Ceilings, error) {
	var c Ceilings
	if err := readJSON(path, "ceilings", &c); err != nil {
		return nil, err
	}
	return &c, nil
}
