package report

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTerminalTablesFitTheWidth(t *testing.T) {
	a := testAnalysis(t)
	cols := a.columns(false)
	for _, width := range []int{80, 120, 400} {
		var b bytes.Buffer
		if err := a.writeTable(&b, Terminal, cols, width); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for i, l := range strings.Split(out, "\n") {
			if n := utf8.RuneCountInString(l); n > width {
				t.Errorf("width %d: line %d is %d columns:\n%s", width, i+1, n, out)
			}
		}
		header := strings.SplitN(out, "\n", 3)[1]
		// The objective stays; next comes throughput.
		if !strings.Contains(header, "publish p99 (ms)") || (width >= 120) != strings.Contains(header, "throughput (MB/s)") {
			t.Errorf("width %d: want the objective (publish p99), and throughput from 120 columns:\n%s", width, out)
		}
		left := strings.Contains(out, "Left out to fit")
		if width == 400 && left {
			t.Errorf("width 400: columns left out of a table that fits:\n%s", out)
		}
		if width < 400 && (!left || !strings.Contains(out, "publish p50") || !strings.Contains(out, "tables.md")) {
			t.Errorf("width %d: the columns left out are not named with where they are:\n%s", width, out)
		}
	}

	var md bytes.Buffer
	if err := a.writeTable(&md, Markdown, cols, 80); err != nil {
		t.Fatal(err)
	}
	for _, c := range cols {
		if !strings.Contains(md.String(), c.metric.Title) {
			t.Errorf("the Markdown table lacks %s", c.metric.Title)
		}
	}
}
