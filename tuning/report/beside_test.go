package report

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeConfigGz(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	if _, err := zw.Write([]byte(strings.Join(lines, "\n") + "\n")); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// fakeRoots is a /proc, /sys and /lib/modules tree: kernel 6.1.0-test,
// one virtio disk vda beside loop0, zram0 and dm-0.
func fakeRoots(t *testing.T) (proc, sys, modules string) {
	root := t.TempDir()
	proc, sys, modules = filepath.Join(root, "proc"), filepath.Join(root, "sys"), filepath.Join(root, "lib/modules")
	writeFile(t, filepath.Join(proc, "sys/kernel/osrelease"), "6.1.0-test\n")
	writeFile(t, filepath.Join(sys, "block/vda/device/vendor"), "0x1af4\n")
	for _, d := range []string{"loop0", "zram0", "dm-0"} {
		writeFile(t, filepath.Join(sys, "block", d, "size"), "0\n")
	}
	return proc, sys, modules
}

func TestReadHost(t *testing.T) {
	t.Run("not set in config.gz", func(t *testing.T) {
		proc, sys, mods := fakeRoots(t)
		writeConfigGz(t, filepath.Join(proc, "config.gz"), "CONFIG_NET_SCHED=y", "# CONFIG_NET_SCH_NETEM is not set")
		h := ReadHost(proc, sys, mods)
		if !slices.Equal(h.Disks, []string{"vda"}) {
			t.Errorf("disks %v, want [vda]: loop, zram and dm have no device link", h.Disks)
		}
		if h.Netem != "no" || !strings.Contains(h.NetemWhy, "CONFIG_NET_SCH_NETEM is not set") {
			t.Errorf("netem %q (%s), want no from config.gz", h.Netem, h.NetemWhy)
		}
	})
	for _, tc := range []struct {
		name   string
		config []string          // config.gz's lines; nil for no config.gz
		files  map[string]string // under the modules root
		want   string
	}{
		{"module installed", []string{"CONFIG_NET_SCH_NETEM=m"}, map[string]string{"6.1.0-test/modules.dep": "kernel/net/sched/sch_netem.ko.xz:\n"}, "yes"},
		{"module configured but not installed", []string{"CONFIG_NET_SCH_NETEM=m"}, map[string]string{"6.1.0-test/modules.dep": "kernel/net/sched/sch_fq.ko:\n"}, "no"},
		{"no config.gz, builtin", nil, map[string]string{"6.1.0-test/modules.builtin": "kernel/net/sched/sch_netem.ko\n"}, "yes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proc, sys, mods := fakeRoots(t)
			if tc.config != nil {
				writeConfigGz(t, filepath.Join(proc, "config.gz"), tc.config...)
			}
			for name, content := range tc.files {
				writeFile(t, filepath.Join(mods, name), content)
			}
			if h := ReadHost(proc, sys, mods); h.Netem != tc.want {
				t.Errorf("netem %q (%s), want %s", h.Netem, h.NetemWhy, tc.want)
			}
		})
	}
	t.Run("nothing readable", func(t *testing.T) {
		proc, sys, mods := fakeRoots(t)
		if h := ReadHost(proc, sys, mods); h.Netem != "unknown" {
			t.Errorf("netem %q (%s), want unknown", h.Netem, h.NetemWhy)
		}
	})
}

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
	writeFile(t, filepath.Join(dir, "20261204T134500Z-recovery", "recovery.json"), string(b))
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
