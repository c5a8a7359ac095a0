package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brokerlab/brokerlab/internal/launch"
	"github.com/brokerlab/brokerlab/internal/testutil"
	"github.com/brokerlab/brokerlab/tuning"
)

// TestSweepSavesProfilesWithEachRun runs the quick plan in miniature (one
// round, 1 s warm-up, 2 s measured) with -profile cpu,heap and checks that
// every run's record lists one CPU and one heap profile of its broker, that
// the files are under the run directory, and that go tool pprof reads each.
func TestSweepSavesProfilesWithEachRun(t *testing.T) {
	testutil.RequirePrivileged(t, "loop devices, mkfs and mount for the quick plan")
	testutil.RequireCommand(t, "mkfs.xfs", "apt-get install xfsprogs")
	goBin := testutil.RequireCommand(t, "go", "install Go")
	out := t.TempDir()
	cmd := exec.Command(bin("lab"), "sweep", "-plan", filepath.Join(repoRoot(t), "plans", "quick.yaml"),
		"-root", repoRoot(t), "-config", filepath.Join(repoRoot(t), "config", "server.properties"),
		"-out", out, "-state", filepath.Join(out, "state"), "-work", filepath.Join(out, "work"), "-no-probes",
		"-repetitions", "1", "-warmup", "1s", "-measure", "2s", "-profile", "cpu,heap")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("lab sweep -profile: %v\n%s", err, b)
	}
	recs, err := filepath.Glob(filepath.Join(out, "quick-*", "runs", "*.json"))
	if err != nil || len(recs) != 2 {
		t.Fatalf("want 2 run records (2 cells x 1 round), got %v (%v)\n%s", recs, err, b)
	}
	for _, path := range recs {
		var rec tuning.Record
		readJSON(t, path, &rec)
		kinds := map[string]int{}
		for _, p := range rec.Profiles {
			kinds[string(p.Kind)]++
			want := filepath.Join("profiles", strings.TrimSuffix(filepath.Base(path), ".json")+"."+string(p.Kind)+".pprof")
			if p.Path != want {
				t.Errorf("%s lists %s, want %s", path, p.Path, want)
			}
			file := filepath.Join(filepath.Dir(filepath.Dir(path)), p.Path)
			top, err := exec.Command(goBin, "tool", "pprof", "-top", file).CombinedOutput()
			if err != nil {
				t.Errorf("go tool pprof -top %s: %v\n%s", file, err, top)
				continue
			}
			if p.Kind == "cpu" && !strings.Contains(string(top), "Duration:") {
				t.Errorf("%s does not read as a CPU profile:\n%s", file, top)
			}
		}
		if kinds["cpu"] != 1 || kinds["heap"] != 1 {
			t.Errorf("%s lists profiles %v, want one cpu and one heap", path, rec.Profiles)
		}
	}
}

// TestLoadSavesProfilesOfTheMeasuredPhase runs lab load -profile cpu
// against a broker with pprof on its metrics listener and checks that the
// result lists the profile and go tool pprof reads it.
func TestLoadSavesProfilesOfTheMeasuredPhase(t *testing.T) {
	goBin := testutil.RequireCommand(t, "go", "install Go")
	metricsAddr, err := launch.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, addr, _ := startBroker(t, "brokerlab.metrics.listen="+metricsAddr, "brokerlab.metrics.pprof=true")
	dir := t.TempDir()
	wl := filepath.Join(dir, "workload.yaml")
	if err := os.WriteFile(wl, []byte("name: profiled\ntopics: 1\npartitionsPerTopic: 1\nmessageSize: 100\n"+
		"subscriptionsPerTopic: 1\nconsumerPerSubscription: 1\nproducersPerTopic: 1\nproducerRate: 1000\n"+
		"warmupDurationSeconds: 1\ntestDurationSeconds: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "result.json")
	b, err := exec.Command(bin("lab"), "load", "-workload", wl, "-brokers", addr, "-out", out, "-quiet",
		"-profile", "cpu", "-pprof", metricsAddr).CombinedOutput()
	if err != nil {
		t.Fatalf("lab load -profile: %v\n%s", err, b)
	}
	var res struct {
		Profiles []string `json:"profiles"`
	}
	readJSON(t, out, &res)
	if len(res.Profiles) != 1 || res.Profiles[0] != "profiles/profiled.cpu.pprof" {
		t.Fatalf("result lists profiles %v, want [profiles/profiled.cpu.pprof]\n%s", res.Profiles, b)
	}
	top, err := exec.Command(goBin, "tool", "pprof", "-top", filepath.Join(dir, res.Profiles[0])).CombinedOutput()
	if err != nil || !strings.Contains(string(top), "Duration: 2") {
		t.Errorf("go tool pprof -top: %v\n%s", err, top)
	}
}
