package bpf

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// WriteText renders a snapshot (usually a window from Delta) for a terminal,
// family by family: a table of counters and ratios (tablewriter), then each
// non-empty histogram with bars, in the style of bcc's biolatency.
func WriteText(w io.Writer, s Snapshot) error {
	if s.Window > 0 {
		fmt.Fprintf(w, "%s  window %s\n", s.Time.Format("15:04:05"), time.Duration(s.Window).String())
	}
	for _, f := range Families() {
		var rows [][]string
		for _, c := range s.Counters {
			if c.Family != f {
				continue
			}
			name := c.Name
			if c.Label != "" {
				name += "{" + c.Label + "}"
			}
			rows = append(rows, []string{name, strconv.FormatUint(c.Value, 10), string(c.Unit), c.Method})
		}
		for _, r := range s.Ratios {
			if r.Family != f {
				continue
			}
			v := "-"
			if r.Valid {
				v = strconv.FormatFloat(100*r.Value, 'f', 1, 64) + "%"
			}
			rows = append(rows, []string{r.Name, v, fmt.Sprintf("%.0f/%.0f", r.Num, r.Den), r.Method})
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n[%s]\n", f)
		t := tablewriter.NewTable(w,
			tablewriter.WithHeaderAutoFormat(tw.Off),
			tablewriter.WithHeaderAlignment(tw.AlignLeft),
			tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: []tw.Align{tw.AlignLeft, tw.AlignRight, tw.AlignLeft, tw.AlignLeft}}),
		)
		t.Header("reading", "value", "unit", "method")
		for _, r := range rows {
			if err := t.Append(r[0], r[1], r[2], r[3]); err != nil {
				return fmt.Errorf("rendering %s table: %w", f, err)
			}
		}
		if err := t.Render(); err != nil {
			return fmt.Errorf("rendering %s table: %w", f, err)
		}
		for _, h := range s.Histograms {
			if h.Family == f && h.Count > 0 {
				if err := WriteHistogram(w, h); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// histBarWidth is the width of the longest bar, as in bcc's print_log2_hist.
const histBarWidth = 40

// WriteHistogram renders one histogram as rows of "low -> high : count |bar|"
// from the first to the last non-empty bucket.
func WriteHistogram(w io.Writer, h Histogram) error {
	first, last := -1, -1
	var peak uint64
	for i, b := range h.Buckets {
		if b.Count == 0 {
			continue
		}
		if first < 0 {
			first = i
		}
		last = i
		peak = max(peak, b.Count)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%s (%s, %s) count %d", h.Name, h.Unit, h.Method, h.Count)
	if m := h.Mean(); !math.IsNaN(m) {
		fmt.Fprintf(&sb, " mean %.0f", m)
	}
	sb.WriteString("\n")
	if first < 0 {
		_, err := io.WriteString(w, sb.String())
		return err
	}
	fmt.Fprintf(&sb, "%23s : %-8s |%s|\n", string(h.Unit), "count", strings.Repeat(" ", histBarWidth/2-6)+"distribution"+strings.Repeat(" ", histBarWidth/2-6))
	for _, b := range h.Buckets[first : last+1] {
		n := int(b.Count * histBarWidth / peak)
		if b.Count > 0 && n == 0 {
			n = 1
		}
		hi := strconv.FormatUint(b.High-1, 10)
		if b.High == math.MaxUint64 {
			hi = "inf"
		}
		fmt.Fprintf(&sb, "%10d -> %-9s : %-8d |%-*s|\n", b.Low, hi, b.Count, histBarWidth, strings.Repeat("*", n))
	}
	_, err := io.WriteString(w, sb.String())
	return err
}
