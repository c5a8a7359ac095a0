package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/brokerlab/brokerlab/internal/testutil"
	"github.com/brokerlab/brokerlab/loadgen"
)

// referenceSummary is a Summary of real results: make bench's run of
// 2026-11-26 on the reference machine (testdata/suite: its ceilings,
// versus and load files and its quick plan's runs, 4 per cell, too few for
// an interval of a median), with a second ceilings run from the same day.
func referenceSummary(t *testing.T) *Summary {
	t.Helper()
	s := &Summary{RunDir: "results/20261126T052158Z", Note: "machine shared with other builds",
		Enable: "make deps && make bench",
		Reduced: []string{"plan: without root the plan leaves out what needs it (loop filesystems, drop_caches, probes): " +
			"see the \">> skipped:\" lines above"},
		Files: []string{"ceilings.json", "ceilings-runs.json", "latency-quantiles.png", "load-half.json", "load-max.json",
			"rate-search.png", "throughput.png", "versus.json", "quick-20261126T052348Z/{tables.md,guide.md,charts/}"}}
	for _, f := range []string{"testdata/suite/ceilings.json", "testdata/suite/ceilings-2.json"} {
		c, err := loadgen.ReadCeilings(f)
		if err != nil {
			t.Fatal(err)
		}
		s.Ceilings = append(s.Ceilings, c)
	}
	b, err := os.ReadFile("testdata/suite/versus.json")
	if err != nil {
		t.Fatal(err)
	}
	var saved struct{ Report *VersusReport }
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	s.Versus = saved.Report
	if s.LoadMax, err = loadgen.ReadResult("testdata/suite/load-max.json"); err != nil {
		t.Fatal(err)
	}
	if s.LoadHalf, err = loadgen.ReadResult("testdata/suite/load-half.json"); err != nil {
		t.Fatal(err)
	}
	s.Env = s.LoadHalf.Environment
	if s.Plan, err = ReadPlanOutcome("testdata/suite/quick"); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSummaryFitsOneScreen(t *testing.T) {
	s := referenceSummary(t)
	for _, width := range []int{120, 100, 80} {
		var buf bytes.Buffer
		if err := s.Render(&buf, width); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if width == 120 {
			t.Logf("summary at 120 columns:\n%s", out)
			if len(lines) > SummaryMaxLines {
				t.Errorf("%d lines, want at most %d", len(lines), SummaryMaxLines)
			}
		}
		for i, l := range lines {
			if n := utf8.RuneCountInString(l); n > width {
				t.Errorf("width %d: line %d is %d columns: %q", width, i+1, n, l)
			}
		}
		for _, bad := range []string{"±∞", "Inf", "NaN", "%!"} {
			if strings.Contains(out, bad) {
				t.Errorf("width %d: summary contains %q:\n%s", width, bad, out)
			}
		}
	}
}

func TestSummarySaysWhatEachStageFound(t *testing.T) {
	s := referenceSummary(t)
	var buf bytes.Buffer
	if err := s.Render(&buf, 120); err != nil {
		t.Fatal(err)
	}
	testutil.Contains(t, "summary", buf.String(), []string{
		"Machine: AMD EPYC",
		"Note: machine shared with other builds",
		// The two ceilings runs: 2016 and 1787 MB/s of sendfile.
		"loopback sendfile 1902 [1787-2016]",
		"disk (ext4 on /dev/vda): write 11507 [11166-11849], write+fdatasync 896 [799-993]",
		// Versus: medians and the median of the pairs' ratios with their range.
		"produce  464.6 vs 482.6 MB/s: 0.95x (0.81-1.15) [0.81-1.15]",
		"consume  1418 vs 509.5 MB/s: 2.79x (2.08-4.28) [2.08-4.28]",
		// 1418 / 1902 = 75%; over the ceiling's runs 70% .. 79%.
		"fetch    1418 MB/s = 75% of the sendfile ceiling's median (70%-79% of its runs)",
		"max sustainable rate 112000 msg/s",
		"at 56000 msg/s (half of max) for 20 s, held 100.0%",
		"publish 72.1 ms [",
		// The plan's 4 runs per cell give no interval of a median: said
		// in words, and the verdict is the stats package's.
		"(n=4: an interval needs 6 runs)",
		"fs=xfs vs fs=ext4: inconclusive",
		"no difference larger than",
		"Reduced plan: without root",
		"to run them: make deps && make bench",
		"Files in results/20261126T052158Z: ceilings.json",
	}...)
}

func TestSummaryOfAPlanWithIntervals(t *testing.T) {
	// A real quick plan of 6 runs per cell (lab bench -plan-args
	// "-repetitions 6 -measure 3s -warmup 1s" on a busy machine): every
	// median has a bounded interval, and the verdict gives the MDE.
	p, err := ReadPlanOutcome("testdata/suite/quick6")
	if err != nil {
		t.Fatal(err)
	}
	s := &Summary{RunDir: "results/x", Plan: p}
	var buf bytes.Buffer
	if err := s.Render(&buf, 120); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	testutil.Contains(t, "summary", out, "6 runs per cell", "fs=ext4 123.1 ms ±", "fs=xfs 431.9 ms ±", "fs=xfs vs fs=ext4: inconclusive", "was detectable")
	if strings.Contains(out, "an interval needs") || strings.Contains(out, "∞") {
		t.Errorf("an interval of 6 runs is bounded:\n%s", out)
	}
}

func TestFetchShareSaysWhenACeilingRunIsBelowTheBroker(t *testing.T) {
	// make bench of 2026-12-03 on the shared machine: broker fetch 543.5
	// MB/s; sendfile ceiling runs 476, 741 and 926 MB/s.
	got := fetchShare(543.5, medianRange{741, 476, 926})
	if want := "543.5 MB/s = 73% of the sendfile ceiling's median (59%-114% of its runs); over 100%"; !strings.HasPrefix(got, want) {
		t.Errorf("fetchShare = %q, want it to start %q", got, want)
	}
	if got := fetchShare(1418, medianRange{1902, 1787, 2016}); strings.Contains(got, "over 100%") {
		t.Errorf("fetchShare below every ceiling run = %q", got)
	}
}
