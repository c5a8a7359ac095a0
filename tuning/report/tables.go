package report

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/brokerlab/brokerlab/tuning"
	"github.com/brokerlab/brokerlab/tuning/stats"
)

// Format selects how tables render.
type Format int

// Formats.
const (
	// Terminal draws box-drawing tables for a terminal.
	Terminal Format = iota
	// Markdown writes GitHub-flavoured Markdown tables.
	Markdown
)

// column is one metric's cells in a table.
type column struct {
	metric tuning.Metric
	// per cell index: summary text and, except for the reference, delta.
	summary []string
	delta   []string
}

// columns computes one column per metric that some cell measured, with the
// comparisons against the reference Holm-corrected per metric.
func (a *Analysis) columns(evidence bool) []column {
	ref := a.Reference()
	var cols []column
	for _, m := range tuning.Metrics {
		if m.Evidence != evidence {
			continue
		}
		col := column{metric: m, summary: make([]string, len(a.Cells)), delta: make([]string, len(a.Cells))}
		var family []*stats.Comparison
		idx := map[*stats.Comparison]int{}
		measured := false
		for i, c := range a.Cells {
			vals := c.Values[m.Key]
			if len(vals) == 0 {
				col.summary[i] = "n/a"
				continue
			}
			measured = true
			col.summary[i] = summary(m, stats.Summarize(vals))
			if c == ref {
				continue
			}
			if cmp, ok := compare(ref, c, m.Key); ok {
				family = append(family, &cmp)
				idx[&cmp] = i
			}
		}
		if !measured {
			continue
		}
		stats.Holm(family)
		for _, cmp := range family {
			col.delta[idx[cmp]] = delta(*cmp)
		}
		cols = append(cols, col)
	}
	return cols
}

// WriteTables writes the performance table and, when any probe measured
// something, the evidence table. Terminal tables fit the width of the
// terminal w writes to (DefaultWidth when it is not one): the columns that
// matter least are left out, and named, until they do; tables.md has them
// all.
func WriteTables(w io.Writer, a *Analysis, f Format) error {
	width := Width(w)
	ref := a.Reference()
	refName := "(no reference cell ran)"
	if ref != nil {
		refName = ref.Cell.ID + " " + ref.Cell.Name
	}
	intro := fmt.Sprintf("plan %s: median ±95%% CI per cell; vs %s: change of the median, Mann-Whitney U p-value Holm-corrected per column, \"~\" = not significant at alpha %.2f",
		a.Plan.Name, refName, stats.Alpha)
	heading := func(s string) {
		if f == Markdown {
			fmt.Fprintf(w, "### %s\n\n", s)
		} else {
			fmt.Fprintf(w, "%s\n", s)
		}
	}
	if inv := a.Plan.Invocation; inv != nil && (inv.Reduced || len(inv.Skipped) > 0) {
		var what []string
		if inv.Reduced {
			what = append(what, "a reduced run ("+strings.Join(inv.Overrides, "; ")+"): a smoke test, not a measurement")
		}
		if len(inv.Skipped) > 0 {
			what = append(what, fmt.Sprintf("skipped on this host: %d (see guide.md)", len(inv.Skipped)))
		}
		line := "Note: " + strings.Join(what, "; ") + "."
		if f == Markdown {
			fmt.Fprintf(w, "**%s**\n\n", line)
		} else {
			for _, l := range Wrap(line, width) {
				fmt.Fprintln(w, l)
			}
		}
	}
	heading("Performance")
	if f == Markdown {
		fmt.Fprintf(w, "%s.\n\n", intro)
	} else {
		for _, l := range Wrap(intro, width) {
			fmt.Fprintln(w, l)
		}
	}
	if err := a.writeTable(w, f, a.columns(false), width); err != nil {
		return err
	}
	if ev := a.columns(true); len(ev) > 0 {
		fmt.Fprintln(w)
		heading("Probe evidence")
		if err := a.writeTable(w, f, ev, width); err != nil {
			return err
		}
	}
	if g, err := newGuide(a); err == nil && len(g.overhead) > 0 {
		fmt.Fprintln(w)
		heading(fmt.Sprintf("Probe overhead (all vs none; target: at most %.0f%% of throughput)", 100*ProbeOverheadTarget))
		header, rows := g.overheadRows()
		if err := renderRows(w, f, header, rows); err != nil {
			return err
		}
	}
	return nil
}

// columnPriority ranks metrics for a terminal table that must leave some
// out: the plan's objective first, then the headline metrics (the charted
// ones), then the rest in tuning.Metrics order.
func (a *Analysis) columnPriority(key string) int {
	if key == a.Plan.Objective {
		return 0
	}
	if i := slices.Index(chartMetrics, key); i >= 0 {
		return 1 + i
	}
	return 1 + len(chartMetrics) + slices.IndexFunc(tuning.Metrics, func(m tuning.Metric) bool { return m.Key == key })
}

// writeTable renders cols; in Terminal format it leaves out the least
// important columns until every line fits width, and says which.
func (a *Analysis) writeTable(w io.Writer, f Format, cols []column, width int) error {
	if f == Markdown {
		return a.renderTable(w, f, cols)
	}
	keep := slices.Clone(cols)
	var left []string
	for {
		var buf bytes.Buffer
		if err := a.renderTable(&buf, f, keep); err != nil {
			return err
		}
		widest := 0
		for _, l := range strings.Split(buf.String(), "\n") {
			widest = max(widest, displayWidth(l))
		}
		if widest <= width || len(keep) <= 1 {
			if _, err := w.Write(buf.Bytes()); err != nil {
				return err
			}
			break
		}
		least := 0
		for i, c := range keep {
			if a.columnPriority(c.metric.Key) >= a.columnPriority(keep[least].metric.Key) {
				least = i
			}
		}
		left = append(left, keep[least].metric.Title)
		keep = slices.Delete(keep, least, least+1)
	}
	if len(left) > 0 {
		slices.Reverse(left)
		line := fmt.Sprintf("Left out to fit %d columns: %s. Every column: tables.md in the result dir.", width, strings.Join(left, ", "))
		for _, l := range Wrap(line, width) {
			fmt.Fprintln(w, l)
		}
	}
	return nil
}

// renderRows renders a plain table of strings in format f.
func renderRows(w io.Writer, f Format, header []string, rows [][]string) error {
	var r tw.Renderer = renderer.NewBlueprint()
	if f == Markdown {
		r = renderer.NewMarkdown()
	}
	t := tablewriter.NewTable(w,
		tablewriter.WithRenderer(r),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
	)
	t.Header(header)
	for _, row := range rows {
		if err := t.Append(row); err != nil {
			return fmt.Errorf("rendering table row: %w", err)
		}
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("rendering table: %w", err)
	}
	return nil
}

func (a *Analysis) renderTable(w io.Writer, f Format, cols []column) error {
	var r tw.Renderer = renderer.NewBlueprint()
	if f == Markdown {
		r = renderer.NewMarkdown()
	}
	header := []string{"cell", "runs"}
	align := tw.Alignment{tw.AlignLeft, tw.AlignRight}
	for _, c := range cols {
		title := c.metric.Title
		if c.metric.Unit != "" {
			title += " (" + c.metric.Unit + ")"
		}
		header = append(header, title, "vs ref")
		align = append(align, tw.AlignRight, tw.AlignRight)
	}
	t := tablewriter.NewTable(w,
		tablewriter.WithRenderer(r),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithAlignment(align),
	)
	esc := func(s string) string {
		if f == Markdown {
			return strings.ReplaceAll(s, "|", `\|`)
		}
		return s
	}
	t.Header(header)
	for i, c := range a.Cells {
		row := []string{esc(c.Cell.ID + " " + c.Cell.Name), fmt.Sprint(len(c.Files))}
		for _, col := range cols {
			row = append(row, col.summary[i], col.delta[i])
		}
		if err := t.Append(row); err != nil {
			return fmt.Errorf("rendering table row %s: %w", c.Cell.ID, err)
		}
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("rendering table: %w", err)
	}
	return nil
}
