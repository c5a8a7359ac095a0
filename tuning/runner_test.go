package tuning

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/internal/testutil"
	"github.com/brokerlab/brokerlab/loadgen"
	"github.com/brokerlab/brokerlab/procsample"
	"github.com/brokerlab/brokerlab/tuning/host"
)

// The sysctl this package's tests change; host's tests use
// vm.dirty_expire_centisecs, so the two never race.
const runnerTestSysctl = "vm.dirty_writeback_centisecs"

// runnerPlan leaves drop_caches off: dropping the page cache mid-way would
// disturb other packages' tests that measure page-cache hits concurrently.
const runnerPlan = `
name: runner-test
workload: workloads/1-topic-16-partitions-1kb.yaml
driver: workloads/driver-default.yaml
repetitions: 2
seed: 9
warmup: 0s
measure: 1s
base:
  broker: {log.flush.interval.ms: "0"}
matrix:
  - name: disk
    levels:
      - name: dir
        disk: {kind: dir}
      - name: loop-ext4
        disk: {kind: loop, size: 128MiB}
        filesystem: {type: ext4, mount_options: [noatime]}
        memory_limit: 512MiB
  - name: writeback
    levels:
      - {name: "500", sysctl: {vm.dirty_writeback_centisecs: "500"}}
      - {name: "300", sysctl: {vm.dirty_writeback_centisecs: "300"}}
`

const runnerWorkload = `
name: runner test
topics: 1
partitionsPerTopic: 1
messageSize: 1024
subscriptionsPerTopic: 1
consumerPerSubscription: 1
producersPerTopic: 1
producerRate: 2000
testDurationSeconds: 2
`

// runnerInputs parses a test plan and the runner tests' workload, with the
// default driver.
func runnerInputs(t *testing.T, planYAML string) (*Plan, loadgen.Workload, loadgen.Driver) {
	t.Helper()
	plan := mustParsePlan(t, planYAML)
	w, err := loadgen.ParseWorkload([]byte(runnerWorkload), "")
	if err != nil {
		t.Fatal(err)
	}
	d, err := loadgen.LoadDriver("../workloads/driver-default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return plan, w, d
}

func TestRunnerRunsACellLifecycleAndRestoresTheHost(t *testing.T) {
	testutil.RequirePrivileged(t, "sysctls, loop devices, mkfs, mount and cgroups for a sweep")
	testutil.RequireCommand(t, "mkfs.ext4", "apt-get install e2fsprogs")
	testutil.RequireCommand(t, "go", "install Go")
	orig, err := host.ReadSysctl("/proc", runnerTestSysctl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cur, _ := host.ReadSysctl("/proc", runnerTestSysctl); cur != orig {
			p, _ := host.SysctlPath("/proc", runnerTestSysctl)
			os.WriteFile(p, []byte(orig), 0o644)
		}
	})
	plan, w, d := runnerInputs(t, runnerPlan)
	state, work, out := t.TempDir(), t.TempDir(), t.TempDir()
	s, _, err := host.Open(host.Config{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var brokerOut bytes.Buffer
	var progress []Progress
	r, err := NewRunner(RunnerConfig{
		Plan: plan, OutDir: out, WorkDir: work, Host: s,
		Broker: ExecBroker{Path: testutil.BuildBroker(t), Config: "../config/server.properties",
			Overrides: []string{"brokerlab.metrics.listen="}, Output: &brokerOut},
		Load:        LoadgenLoad{Workload: w, Driver: d},
		Ceilings:    LoadgenCeilings{Each: 200 * time.Millisecond},
		Environment: procsample.Environment{Kernel: "test"},
		CgroupName:  "brokerlab-runner-test",
		Progress:    func(p Progress) { progress = append(progress, p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	plan.Ceilings = true
	recs, err := r.Run(context.Background())
	if err != nil {
		t.Fatalf("run: %v\nbroker output:\n%s", err, brokerOut.String())
	}
	for _, rec := range recs {
		for _, n := range rec.Notes {
			t.Logf("%s: %s", rec.File, n)
		}
	}
	if len(recs) != 8 {
		t.Fatalf("%d records, want 4 cells x 2 repetitions", len(recs))
	}
	for _, rec := range recs {
		m := rec.Measurement
		// Something measured, not how much: the rate a shared machine
		// achieves is the benchmarks' business.
		if m.ThroughputMsgs <= 0 || m.PublishP99 <= 0 || m.E2EP99 <= 0 {
			t.Errorf("%s: implausible measurement %+v", rec.File, m)
		}
		if m.CeilingBytes <= 0 || slices.ContainsFunc(rec.Notes, func(n string) bool { return strings.Contains(n, "ceiling") }) {
			t.Errorf("%s: no ceiling", rec.File)
		}
		if _, err := os.Stat(filepath.Join(out, rec.LoadgenResult)); err != nil {
			t.Errorf("%s: loadgen result: %v", rec.File, err)
		}
	}
	read, err := ReadRecords(out)
	if err != nil || len(read) != 8 {
		t.Fatalf("ReadRecords: %d, %v", len(read), err)
	}
	if _, err := LoadPlan(filepath.Join(out, "plan.yaml")); err != nil {
		t.Errorf("the plan copy does not load: %v", err)
	}
	if len(progress) != 9 || progress[0].Total != 8 || progress[8].Run != nil {
		t.Errorf("progress reports: %+v", progress)
	}
	// The host is as before.
	if cur, _ := host.ReadSysctl("/proc", runnerTestSysctl); cur != orig {
		t.Errorf("%s = %s after the sweep, want %s", runnerTestSysctl, cur, orig)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), work) {
		t.Errorf("something is still mounted under %s", work)
	}
	if ents, _ := os.ReadDir(work); len(ents) != 0 {
		t.Errorf("work dir not empty: %v", ents)
	}
	if m, _ := filepath.Glob("/sys/fs/cgroup/memory/brokerlab-runner-test-*"); len(m) != 0 {
		t.Errorf("cgroups left: %v", m)
	}
}

func TestRunnerStopsOnCancelAndRestores(t *testing.T) {
	testutil.RequirePrivileged(t, "sysctls and cgroups for a sweep")
	plan := mustParsePlan(t, runnerPlan)
	orig, _ := host.ReadSysctl("/proc", runnerTestSysctl)
	s, _, err := host.Open(host.Config{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := NewRunner(RunnerConfig{
		Plan: plan, OutDir: t.TempDir(), WorkDir: t.TempDir(), Host: s,
		// A broker that never starts: the run fails, the sweep goes on
		// until cancelled.
		Broker: ExecBroker{Path: "/bin/false", Config: "x"},
		Load:   LoadgenLoad{},
		Progress: func(p Progress) {
			if p.Done == 2 {
				cancel()
			}
		},
		CgroupName: "brokerlab-runner-cancel",
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "sweep stopped after 2 of 8 runs") {
		t.Fatalf("err = %v", err)
	}
	if cur, _ := host.ReadSysctl("/proc", runnerTestSysctl); cur != orig {
		t.Errorf("%s = %s after cancel, want %s", runnerTestSysctl, cur, orig)
	}
}

const probesPlan = `
name: probes-test
workload: workloads/1-topic-16-partitions-1kb.yaml
driver: workloads/driver-default.yaml
repetitions: 1
seed: 3
warmup: 0s
measure: 1s
matrix:
  - name: probes
    levels:
      - {name: none, probes: none}
      - {name: all, probes: all}
`

// TestRunnerTurnsProbesOnAndOffPerCell: a cell with probes: none runs
// without them (its probe fields stay unmeasured), one with probes: all
// has them, and without probes at all a probes: all cell fails instead of
// passing for one with probes.
func TestRunnerTurnsProbesOnAndOffPerCell(t *testing.T) {
	testutil.RequirePrivileged(t, "eBPF probes on the broker")
	testutil.RequireCommand(t, "go", "install Go")
	plan, w, d := runnerInputs(t, probesPlan)
	brokerBin := testutil.BuildBroker(t)
	run := func(probes Probes) ([]Record, error) {
		s, _, err := host.Open(host.Config{StateDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		r, err := NewRunner(RunnerConfig{
			Plan: plan, OutDir: t.TempDir(), WorkDir: t.TempDir(), Host: s,
			Broker: ExecBroker{Path: brokerBin, Config: "../config/server.properties",
				Overrides: []string{"brokerlab.metrics.listen="}},
			Load: LoadgenLoad{Workload: w, Driver: d}, Probes: probes, NoCgroups: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		return r.Run(context.Background())
	}
	recs, err := run(BPFProbes{})
	if err != nil || len(recs) != 2 {
		t.Fatalf("with probes: %d records, %v", len(recs), err)
	}
	probed := func(m Measurement) bool {
		return m.FsyncP99 != nil || m.PageCacheHitRate != nil || m.SwapIns != nil || m.SendBufFull != nil || m.SendfileShare != nil
	}
	for _, rec := range recs {
		if got, want := probed(rec.Measurement), rec.Settings.Probes == ProbesAll; got != want {
			t.Errorf("%s (%s): probe readings %v, want %v: %+v", rec.File, rec.CellName, got, want, rec.Measurement)
		}
	}
	recs, err = run(nil)
	if err == nil || len(recs) != 1 || recs[0].Settings.Probes != ProbesNone {
		t.Errorf("without probes: records %v, err %v; want the none cell only and an error for the all cell", recs, err)
	}
}
