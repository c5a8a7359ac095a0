package sweep_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brokerlab/brokerlab/internal/testutil"
	"github.com/brokerlab/brokerlab/tuning"
	"github.com/brokerlab/brokerlab/tuning/sweep"
)

// A plan can tune any Kafka-protocol broker: this sweep's broker under
// test is bin/kfake (franz-go's fake cluster) on its fixed port, started,
// loaded, measured and stopped by the runner as bin/broker is.
func TestSweepWithKfakeAsTheTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kfake and runs a sweep")
	}
	root := t.TempDir()
	for _, d := range []string{"bin", "workloads", "plans"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	testutil.GoBuild(t, filepath.Join(root, "bin"), "../../cmd/kfake")
	driver, err := os.ReadFile("../../workloads/driver-default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"workloads/driver-default.yaml": string(driver),
		"workloads/tiny.yaml": `name: tiny
topics: 1
partitionsPerTopic: 1
messageSize: 100
keyDistributor: NO_KEY
subscriptionsPerTopic: 1
consumerPerSubscription: 1
producersPerTopic: 1
producerRate: 500
consumerBacklogSizeGB: 0
warmupDurationSeconds: 1
testDurationSeconds: 2
`,
		"plans/kfake.yaml": `name: kfake-target
workload: workloads/tiny.yaml
driver: workloads/driver-default.yaml
repetitions: 30
seed: 1
warmup: 1s
measure: 2s
sequential:
  min_repetitions: 6
  budget: 1m
  targets:
    - {metric: publish_p99, half_width: 0.15}
target:
  name: kfake
  command: [bin/kfake, -listen, "{{.Addr}}", -data-dir, "{{.LogDir}}"]
  addr: 127.0.0.1:9192
matrix:
  - name: gc
    levels:
      - {name: gogc-100, runtime: {gogc: "100"}}
      - {name: gogc-400, runtime: {gogc: "400"}}
`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var progress strings.Builder
	dir, err := sweep.Run(context.Background(), sweep.Config{
		PlanFile: filepath.Join(root, "plans/kfake.yaml"), Root: root, Out: filepath.Join(root, "results"),
		WorkDir: filepath.Join(root, "work"), WorkDirSet: true, StateDir: filepath.Join(root, "state"),
		Unprivileged: true, NoProbes: true, Command: "go test", Progress: &progress,
	})
	if err != nil {
		t.Fatalf("sweep: %v\n%s", err, progress.String())
	}
	recs, err := tuning.ReadRecords(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The sequential rule ended the sweep between rounds: at its targets,
	// or within its one-minute budget, which 30 rounds cannot fit.
	plan, err := tuning.LoadPlan(filepath.Join(dir, "plan.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	stop := plan.Invocation.Stop
	if stop == nil || (stop.Reason != tuning.StopBudget && stop.Reason != tuning.StopTargetsMet) || stop.Rounds < 1 || stop.Rounds >= 30 {
		t.Fatalf("stop report %+v, want the budget or the targets after 1 to 29 rounds", stop)
	}
	if len(recs) != 2*stop.Rounds {
		t.Fatalf("%d run files after %d rounds, want 2 per round (gc=gogc-100, gc=gogc-400)\n%s", len(recs), stop.Rounds, progress.String())
	}
	if len(stop.HalfWidths) != 1 || stop.HalfWidths[0].Target != 0.15 {
		t.Errorf("half-widths %+v, want the one comparison's", stop.HalfWidths)
	}
	for _, r := range recs {
		if !strings.HasPrefix(r.Broker, "kfake (bin/kfake -listen") {
			t.Errorf("%s: broker %q, want kfake", r.File, r.Broker)
		}
		if h := r.Environment.Host; h == nil || h.Netem == "" {
			t.Errorf("%s: the environment lacks the host's facts (disks, sch_netem): %+v", r.File, h)
		}
		if r.Measurement.ThroughputMsgs <= 0 || r.Measurement.PublishP99 <= 0 {
			t.Errorf("%s: nothing measured: %+v", r.File, r.Measurement)
		}
		// kfake wrote its log where the runner said, so it was kfake that
		// served the run.
		if _, err := os.Stat(filepath.Join(dir, "broker-logs", fmt.Sprintf("%s-r%d.log", r.Cell, r.Repetition))); err != nil {
			t.Errorf("%s: kfake's output: %v", r.File, err)
		}
	}
	for _, f := range []string{"guide.md", "tables.md", "plan.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(progress.String(), ">> the broker under test is kfake") {
		t.Errorf("progress does not name the target:\n%s", progress.String())
	}
	t.Run("every JSON carries the environment with the commit", func(t *testing.T) {
		requireProvenance(t, dir)
	})
}

// requireProvenance fails unless every JSON file under a result dir has an
// environment record whose build names the git commit, the Go version and
// the kernel: a result that cannot say what code and machine made it is
// not one.
func requireProvenance(t *testing.T, dir string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".json" {
			return err
		}
		n++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var doc struct {
			Environment *struct {
				Build struct {
					Commit    string `json:"commit"`
					GoVersion string `json:"go_version"`
				} `json:"build"`
				Kernel string `json:"kernel"`
			} `json:"environment"`
		}
		rel, _ := filepath.Rel(dir, path)
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		switch e := doc.Environment; {
		case e == nil:
			t.Errorf("%s: no environment record", rel)
		case len(e.Build.Commit) != 40:
			t.Errorf("%s: environment.build.commit = %q, want the 40-hex git commit", rel, e.Build.Commit)
		case e.Build.GoVersion == "" || e.Kernel == "":
			t.Errorf("%s: environment without Go version or kernel: %+v", rel, *e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("no JSON under %s: the check would pass on nothing", dir)
	}
}
