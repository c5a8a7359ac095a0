package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/brokerlab/brokerlab/bench"
	"github.com/brokerlab/brokerlab/internal/rdkperf"
	"github.com/brokerlab/brokerlab/internal/testutil"
	"github.com/brokerlab/brokerlab/loadgen"
)

// TestLabBenchInMiniature runs the main job with one small broker/kfake pair,
// short load runs and one short round of the quick plan, and checks that both servers carried every record
// each way, that every record the load generator had acknowledged was
// consumed, and that the result files were written.
func TestLabBenchInMiniature(t *testing.T) {
	rdk, err := rdkperf.Find(repoRoot(t))
	if err != nil {
		testutil.Unavailable(t, "%v", err)
	}
	out := t.TempDir()
	cmd := exec.Command(bin("lab"), "bench", "-out", out, "-root", repoRoot(t), "-repetitions", "1", "-records", "20000", "-ceiling-runs", "1",
		"-measure", "4s", "-search-max", "8s", "-plan-args", "-repetitions 1 -warmup 1s -measure 2s -state "+filepath.Join(out, "state")+" -work-dir "+filepath.Join(out, "work"))
	cmd.Env = append(os.Environ(), rdkperf.EnvPath+"="+rdk)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("lab bench: %v\n%s%s", err, stdout.Bytes(), stderr.Bytes())
	}
	b := append(stdout.Bytes(), stderr.Bytes()...)
	// Stdout (not a terminal here) holds results only and ends with the
	// summary: one screen, 120 columns, no unbounded interval.
	out1 := stdout.String()
	i := strings.LastIndex(out1, "== lab bench ")
	if i < 0 {
		t.Fatalf("stdout has no summary:\n%s", out1)
	}
	summary := strings.Split(strings.TrimSuffix(out1[i:], "\n"), "\n")
	if len(summary) > bench.SummaryMaxLines || strings.Contains(out1[i:], "∞") {
		t.Errorf("summary of %d lines (want at most %d, no ±∞):\n%s", len(summary), bench.SummaryMaxLines, out1[i:])
	}
	for _, l := range strings.Split(out1, "\n") {
		if utf8.RuneCountInString(l) > 120 {
			t.Errorf("stdout line of %d columns: %q", utf8.RuneCountInString(l), l)
		}
		if strings.HasPrefix(l, ">> ") || strings.HasPrefix(l, "time=") {
			t.Errorf("a progress or log line on stdout: %q", l)
		}
	}
	for _, want := range []string{"Broker vs kfake", "max sustainable rate", "Plan quick"} {
		if !strings.Contains(out1[i:], want) {
			t.Errorf("summary lacks %q:\n%s", want, out1[i:])
		}
	}
	runs, err := filepath.Glob(filepath.Join(out, "*", "versus.json"))
	if err != nil || len(runs) != 1 {
		t.Fatalf("want one versus.json under %s, got %v (%v)\n%s", out, runs, err, b)
	}
	var res struct {
		Report bench.VersusReport `json:"report"`
	}
	readJSON(t, runs[0], &res)
	seen := map[string]bool{}
	for _, s := range res.Report.Samples {
		seen[s.Target] = true
		if s.Produce.Messages != 20000 || s.Consume.Messages != 20000 || s.Consume.Bytes != 20000*1024 {
			t.Errorf("%s: produced %d, consumed %d records (%d bytes); want 20000 each way", s.Target, s.Produce.Messages, s.Consume.Messages, s.Consume.Bytes)
		}
	}
	if !seen[bench.TargetBroker] || !seen[bench.TargetKfake] {
		t.Errorf("samples cover %v; want both broker and kfake", seen)
	}
	dir := filepath.Dir(runs[0])
	if md, err := os.ReadFile(filepath.Join(dir, "README.md")); err != nil || !strings.Contains(string(md), "## Summary\n\n```text\n== lab bench") {
		t.Errorf("README.md does not open with the summary (%v):\n%.600s", err, md)
	}
	for _, f := range []string{"README.md", "ceilings.json", "load-max.json", "load-half.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s missing: %v", f, err)
		}
	}
	if guides, _ := filepath.Glob(filepath.Join(dir, "quick-*", "*.md")); len(guides) == 0 {
		t.Errorf("the quick plan wrote no Markdown tables or guide under %s", dir)
	}
	// Conservation over the whole run (warm-up and tail included): the
	// measured phases' counts differ by the consumer lag at their edges.
	for _, name := range []string{"load-max.json", "load-half.json"} {
		var res loadgen.Result
		readJSON(t, filepath.Join(dir, name), &res)
		if tot := res.Totals; tot.Acked == 0 || !tot.Drained || len(tot.Subscriptions) == 0 {
			t.Errorf("%s: totals %+v; want records acked, every one consumed by every subscription, and the drain ended with nothing missing", name, tot)
		}
	}
}
