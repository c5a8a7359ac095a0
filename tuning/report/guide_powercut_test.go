package report

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/internal/testutil"
	"github.com/brokerlab/brokerlab/tuning"
)

// writePowercut writes a lab powercut result under dir: lost[policy] are
// the acknowledged records each cut of that policy lost, under both
// semantics; loop[policy] the loop device's.
func writePowercut(t *testing.T, dir string, lost, loop map[string][]int64) {
	t.Helper()
	var f powercutFile
	f.Environment.Kernel = "6.18.44"
	f.Environment.Build.Commit = "0123456789abcdef"
	f.Report.Semantics = []string{"data", "data+metadata"}
	f.Report.SegmentBytes, f.Report.MinRun, f.Report.MaxRun = 16384, 300*time.Millisecond, 1500*time.Millisecond
	for _, p := range []struct {
		name  string
		props []string
	}{
		{"page-cache", []string{"log.flush.sync.on.ack=false"}},
		{"every-100ms", []string{"log.flush.sync.on.ack=false", "log.flush.interval.ms=100"}},
		{"fsync-on-ack", []string{"log.flush.sync.on.ack=true"}},
	} {
		f.Report.Policies = append(f.Report.Policies, struct {
			Name  string   `json:"name"`
			Props []string `json:"props"`
		}{p.name, p.props})
		for _, sem := range f.Report.Semantics {
			for _, n := range lost[p.name] {
				f.Report.Trials = append(f.Report.Trials, powercutTrial{Policy: p.name, Semantics: sem, Lost: n, Started: true})
			}
		}
	}
	run := filepath.Join(dir, "20261204T220000Z-powercut")
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(run, "powercut.json"), string(b))
	var lf loopFile
	for policy, ns := range loop {
		for _, n := range ns {
			lf.Report = append(lf.Report, powercutTrial{Policy: policy, Lost: n, Started: true})
		}
	}
	if b, err = json.Marshal(lf); err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(run, "loop.json"), string(b))
}

// The flush section of the guide shows what a power cut loses at each
// level, matched by the flush settings the level's cells run with (a level
// that sets only log.flush.interval.ms is the policy that also says
// log.flush.sync.on.ack=false); a level the power-cut run lacks says so,
// and a dimension of other settings gets no such table.
func TestGuideShowsWhatAPowerCutLoses(t *testing.T) {
	p := mustParsePlan(t, planYAML("flush-powercut", 5, `design: one-at-a-time
matrix:
  - name: flush
    levels:
      - {name: page-cache, broker: {log.flush.sync.on.ack: "false"}}
      - {name: every-100ms, broker: {log.flush.interval.ms: "100"}}
      - {name: every-1000-msgs, broker: {log.flush.interval.messages: "1000"}}
      - {name: fsync-on-ack, broker: {log.flush.sync.on.ack: "true"}}
  - name: swappiness
    levels:
      - {name: "60", sysctl: {vm.swappiness: "60"}}
      - {name: "1", sysctl: {vm.swappiness: "1"}}
`))
	noise := []float64{0.5, 1.6, 0.8, 1.4, 0.9}
	recs := applyRecords(p, func(run tuning.Run) float64 { return 0.010 * noise[(run.Round+run.Order)%len(noise)] })
	dir := t.TempDir()
	writePowercut(t, dir,
		map[string][]int64{"page-cache": {4000, 5000, 3000}, "every-100ms": {0, 0, 956}, "fsync-on-ack": {0, 0, 0}},
		map[string][]int64{"page-cache": {162026, 464228}, "fsync-on-ack": {0, 0}})
	a := analysisBeside(t, p, recs, dir)
	var out strings.Builder
	if err := WriteGuide(&out, a); err != nil {
		t.Fatal(err)
	}
	guide := out.String()
	// Rows compared with their cells' padding folded.
	var lines []string
	for l := range strings.Lines(guide) {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	guide = strings.Join(lines, "\n")
	testutil.Contains(t, "the guide", guide, "durability (the flush policy: its section shows what a power cut loses at each level)")
	flush, rest, _ := strings.Cut(guide[strings.Index(guide, "### flush"):], "### swappiness")
	testutil.Contains(t, "the flush section", flush,
		"What a power cut loses at each level (lab powercut beside this run: `20261204T220000Z-powercut/powercut.json`, commit 0123456, kernel 6.18.44)",
		"Each cut came 300ms to 1.5s after the producers started, with log.segment.bytes 16384",
		"| page-cache | median 4,000, max 5,000; 3 of 3 cuts lost some | median 4,000, max 5,000; 3 of 3 cuts lost some | median 162,026, max 464,228; 2 of 2 cuts lost some | 0 of 8 cuts | 0 of 8 cuts |",
		"| every-100ms | median 0, max 956; 1 of 3 cuts lost some |",
		"| every-100ms | median 0, max 956; 1 of 3 cuts lost some | median 0, max 956; 1 of 3 cuts lost some | not run |",
		"| every-1000-msgs | not in the power-cut run | not in the power-cut run |",
		"| fsync-on-ack | none in 3 cuts | none in 3 cuts | none in 2 cuts | 0 of 8 cuts | 0 of 8 cuts |")
	if strings.Contains(rest, "What a power cut loses") {
		t.Errorf("the swappiness section shows power cuts:\n%s", rest)
	}
}

// Without a power-cut run beside it the flush section has no such table.
func TestGuideWithoutPowercut(t *testing.T) {
	p := mustParsePlan(t, planYAML("flush-alone", 5, `matrix:
  - name: flush
    levels:
      - {name: page-cache, broker: {log.flush.sync.on.ack: "false"}}
      - {name: fsync-on-ack, broker: {log.flush.sync.on.ack: "true"}}
`))
	recs := applyRecords(p, func(run tuning.Run) float64 { return 0.010 })
	var out strings.Builder
	if err := WriteGuide(&out, analysisBeside(t, p, recs, t.TempDir())); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "What a power cut loses") {
		t.Error("a guide with no power-cut run beside it shows power cuts")
	}
}
