package report

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/brokerlab/brokerlab/internal/testutil"
	"github.com/brokerlab/brokerlab/procsample"
	"github.com/brokerlab/brokerlab/tuning"
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

func TestTablesShowTheBrokersCPUAndMemory(t *testing.T) {
	p, recs := testRecords(t)
	for i := range recs {
		cpu := 1.0 // fsync on every ack costs the broker twice the CPU per GB
		if recs[i].CellName == "flush=fsync-on-ack" {
			cpu = 2
		}
		recs[i].Measurement.Proc = &procsample.Sample{Process: &procsample.Process{
			UserSeconds: 2.5 * cpu, SystemSeconds: 6.5 * cpu, CPUSeconds: 9 * cpu, PeakRSS: 48 << 20,
		}}
		recs[i].Measurement.Produced = &tuning.Produced{Bytes: 200e6, Records: 200_000}
	}
	tables := tablesText(t, analysisOf(t, p, recs), Markdown)
	perf, evidence, ok := strings.Cut(tables, "### Probe evidence")
	if !ok {
		t.Fatalf("no evidence table:\n%s", tables)
	}
	row := func(table, cell string) string {
		for _, l := range strings.Split(table, "\n") {
			if strings.Contains(l, "| "+cell+" ") {
				return l
			}
		}
		t.Fatalf("no row for %s in\n%s", cell, table)
		return ""
	}
	testutil.Contains(t, "performance table", perf, "broker CPU (s/GB)", "broker CPU (s/M records)", "broker peak RSS (MiB)")
	for _, want := range []string{"broker user CPU (s/GB)", "broker system CPU (s/GB)"} {
		if !strings.Contains(evidence, want) || strings.Contains(perf, want) {
			t.Errorf("%q is not in the evidence table alone:\n%s", want, tables)
		}
	}
	// 9 s over 0.2 GB and 0.2 M records; twice that with fsync on ack.
	if r := row(perf, "c01"); !strings.Contains(r, "45.00 ±0%") || !strings.Contains(r, "48.00 ±0%") {
		t.Errorf("baseline row lacks 45 s/GB, 45 s/M records and 48 MiB: %s", r)
	}
	flush := p.Cells()[len(p.Cells())-1]
	if flush.Name != "flush=fsync-on-ack" {
		t.Fatalf("last cell is %s, want flush=fsync-on-ack", flush.Name)
	}
	if r := row(perf, flush.ID); !strings.Contains(r, "90.00 ±0%") || !strings.Contains(r, "+100.00%") {
		t.Errorf("fsync-on-ack row lacks 90 s/GB, +100%% against the baseline: %s", r)
	}
	if r := row(evidence, "c01"); !strings.Contains(r, "12.50 ±0%") || !strings.Contains(r, "32.50 ±0%") {
		t.Errorf("baseline evidence row lacks 12.5 user and 32.5 system s/GB: %s", r)
	}
}
