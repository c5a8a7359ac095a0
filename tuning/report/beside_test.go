package report

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brokerlab/brokerlab/internal/testutil"
	"github.com/brokerlab/brokerlab/tuning"
)

// writeRecovery writes a lab recovery result under dir: 5 cold and 5
// warm starts per thread count, seconds[threads][cache].
func writeRecovery(t *testing.T, dir string, seconds map[int]map[string][]float64) {
	t.Helper()
	var f recoveryFile
	f.Report.Config.Threads = []int{1, 4}
	f.Report.Data.Partitions, f.Report.Data.LogFileBytes = 1000, 3e9
	for _, th := range []int{1, 4} {
		for _, cache := range []string{"cold", "warm"} {
			for _, s := range seconds[th][cache] {
				f.Report.Runs = append(f.Report.Runs, recoveryRun{Threads: th, Cache: cache, Seconds: s})
			}
		}
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(dir, "20261204T134500Z-recovery", "recovery.json"), string(b))
}

func seedRow(t *testing.T, a *Analysis, advicePrefix string) (string, string) {
	t.Helper()
	g, err := newGuide(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range g.checks {
		if strings.HasPrefix(ch.claim.advice, advicePrefix) {
			return g.seedVerdict(ch)
		}
	}
	t.Fatalf("no seed row %q", advicePrefix)
	return "", ""
}

func TestSeedRowsFromBesideTheRuns(t *testing.T) {
	dir := t.TempDir()
	writeRecovery(t, dir, map[int]map[string][]float64{
		1: {"cold": {6.2, 6.0, 4.6, 5.8, 6.4}, "warm": {2.9, 2.7, 2.8, 3.0, 2.85}},
		4: {"cold": {3.3, 3.1, 3.0, 3.4, 3.2}, "warm": {1.9, 1.8, 1.85, 1.95, 1.88}},
	})
	a := testAnalysis(t)
	if err := a.ReadBeside(dir, Host{Disks: []string{"vda"}, Netem: "no", NetemWhy: "CONFIG_NET_SCH_NETEM is not set in /proc/config.gz"}); err != nil {
		t.Fatal(err)
	}
	v, ev := seedRow(t, a, "Use more than one recovery thread")
	if v != "holds" || !strings.Contains(ev, "cold page cache: 6.00 s → 3.20 s") || !strings.Contains(ev, "20261204T134500Z-recovery/recovery.json") {
		t.Errorf("recovery row: %s: %s", v, ev)
	}
	v, ev = seedRow(t, a, "Spread log.dirs")
	if v != notMeasurable || !strings.Contains(ev, "one disk (/dev/vda)") {
		t.Errorf("log.dirs row: %s: %s", v, ev)
	}
	// The fixed data set has a sockbuf dimension: the loopback result
	// is kept as evidence, the verdict says why it cannot decide.
	v, ev = seedRow(t, a, "Raise socket")
	if v != notMeasurable || !strings.Contains(ev, "CONFIG_NET_SCH_NETEM is not set") || !strings.Contains(ev, "On loopback the plan's comparison was inconclusive") {
		t.Errorf("socket buffer row: %s: %s", v, ev)
	}

	// With sch_netem and two disks the host can measure both: the rows
	// say what the plan lacks, or what it measured.
	a = testAnalysis(t)
	if err := a.ReadBeside(t.TempDir(), Host{Disks: []string{"vda", "vdb"}, Netem: "yes"}); err != nil {
		t.Fatal(err)
	}
	if v, _ := seedRow(t, a, "Spread log.dirs"); v != "not measured" {
		t.Errorf("log.dirs with two disks: %s, want not measured", v)
	}
	if v, _ := seedRow(t, a, "Raise socket"); v != inconclusive {
		t.Errorf("socket buffers with sch_netem: %s, want the plan's inconclusive", v)
	}
	if v, ev := seedRow(t, a, "Use more than one recovery thread"); v != "not measured" || !strings.Contains(ev, "lab recovery") {
		t.Errorf("recovery without a bench: %s: %s", v, ev)
	}
}

// TestHostOfPrefersWhatTheRunRecorded: a guide states the facts of the
// host the run ran on, and says so when it has only the rendering host's.
func TestHostOfPrefersWhatTheRunRecorded(t *testing.T) {
	rendering := Host{Disks: []string{"vda", "vdb"}, Netem: "yes", NetemWhy: "CONFIG_NET_SCH_NETEM=y in /proc/config.gz"}
	recorded := Host{Disks: []string{"vda"}, Netem: "no", NetemWhy: "CONFIG_NET_SCH_NETEM is not set in /proc/config.gz"}
	var old, recent tuning.Record
	recent.Environment.Host = &recorded
	if h := hostOf([]tuning.Record{old, recent}, rendering); h.Rendering || h.Netem != "no" || len(h.Disks) != 1 {
		t.Errorf("with a record that has host facts: %+v, want %+v", h, recorded)
	}
	h := hostOf([]tuning.Record{old}, rendering)
	if !h.Rendering || h.Netem != "yes" {
		t.Errorf("without: %+v, want the rendering host's, marked", h)
	}
	g := &guide{a: &Analysis{Host: &Host{Disks: []string{"vda"}, Rendering: true}}}
	if _, why := logDirsBeside(g, "not measured", ""); !strings.HasPrefix(why, "the host reading the run (the run did not record its own) has one disk") {
		t.Errorf("log.dirs row from the rendering host's facts: %q", why)
	}
	g.a.Host.Rendering = false
	if _, why := logDirsBeside(g, "not measured", ""); !strings.HasPrefix(why, "this host has one disk") {
		t.Errorf("log.dirs row from the run's facts: %q", why)
	}
}
