package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/brokerlab/brokerlab/internal/testutil"
	"github.com/brokerlab/brokerlab/tuning"
)

// unprivilegedPlan asks for what only root may do: a loop file with ext4 or
// xfs, a sysctl, drop_caches, a memory limit and the probes.
const unprivilegedPlan = `
name: unprivileged-test
workload: workloads/1-topic-1-partition-100b.yaml
driver: workloads/driver-default.yaml
repetitions: 4
seed: 1
warmup: 5s
measure: 15s
drop_caches: true
base:
  disk: {kind: loop, size: 512MiB}
  sysctl: {vm.dirty_expire_centisecs: "3000"}
  memory_limit: 1GiB
matrix:
  - name: fs
    levels:
      - {name: ext4, filesystem: {type: ext4}}
      - {name: xfs, filesystem: {type: xfs}}
`

// TestSweepWithoutRoot runs lab sweep as an unprivileged user (uid 65534
// when the test runs as root, else the test's own user) with a plan that
// asks for root's knobs and the overrides of a reduced run: it must run the
// baseline on a plain directory, say what it skipped, and record the
// overrides and the command in the result dir.
func TestSweepWithoutRoot(t *testing.T) {
	testutil.RequireCommand(t, "go", "install Go")
	if testing.Short() {
		t.Skip("builds the lab and the broker and runs a sweep (-short)")
	}
	tmp := t.TempDir()
	// nobody must reach the binaries, the plan and the output below tmp.
	for _, d := range []string{filepath.Dir(tmp), tmp} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	lab, planFile := buildForSweep(t, tmp, unprivilegedPlan)
	scratch := filepath.Join(tmp, "scratch") // $XDG_STATE_HOME: the lab's work dir and journal
	out := filepath.Join(tmp, "results")
	for _, d := range []string{scratch, out} {
		if err := os.Mkdir(d, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o777); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	cmd := exec.Command(lab, "sweep", "-plan", planFile, "-root", "../..", "-out", out,
		"-config", "../../config/server.properties", "-repetitions", "1", "-warmup", "0s", "-measure", "1s")
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+scratch, "LAB_STATE_DIR=")
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	output, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("lab sweep without root: %v\n%s", err, output)
	}
	testutil.Contains(t, "output", string(output), []string{
		">> reduced run: a smoke test, not a measurement (repetitions: 4 -> 1; warmup: 5s -> 0s; measure: 15s -> 1s)",
		">> skipped: disk and filesystem: the broker's log dir is a plain directory",
		">> skipped: sysctl vm.dirty_expire_centisecs: not set",
		">> skipped: memory_limit: the broker runs without a memory limit",
		">> skipped: dimension fs left out: its levels (ext4, xfs)",
		">> skipped: drop_caches",
		">> skipped: probes: not attached",
		"c01 baseline",
	}...)
	dirs, _ := filepath.Glob(filepath.Join(out, "unprivileged-test-*"))
	if len(dirs) != 1 {
		t.Fatalf("result dirs %v, want one", dirs)
	}
	dir := dirs[0]
	plan, err := tuning.LoadPlan(filepath.Join(dir, "plan.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	inv := plan.Invocation
	if inv == nil || !inv.Reduced || len(inv.Skipped) != 6 || !strings.Contains(inv.Command, "-repetitions 1 -warmup 0s -measure 1s") {
		t.Errorf("plan.yaml's invocation %+v, want the reduced run, 6 skips and the command", inv)
	}
	if plan.Repetitions != 1 || len(plan.Cells()) != 1 || plan.DropCaches {
		t.Errorf("plan.yaml: repetitions %d, %d cells, drop_caches %v; want the degraded, overridden plan", plan.Repetitions, len(plan.Cells()), plan.DropCaches)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "command.txt")); err != nil || !strings.Contains(string(b), "lab sweep -plan") {
		t.Errorf("command.txt: %q, %v", b, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "runs", "c01-r1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec tuning.Record
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rec.Environment.Disk, "plain directory under "+filepath.Join(scratch, "brokerlab", "work")) {
		t.Errorf("run's disk %q, want the plain directory under $XDG_STATE_HOME/brokerlab/work", rec.Environment.Disk)
	}
	if rec.Measurement.ThroughputMsgs <= 0 || rec.Measurement.FsyncP99 != nil {
		t.Errorf("run measured %+v: want throughput and no probe readings", rec.Measurement)
	}
	guide, err := os.ReadFile(filepath.Join(dir, "guide.md"))
	if err != nil {
		t.Fatal(err)
	}
	testutil.Contains(t, "guide.md", string(guide), "**Reduced run:**", "**Skipped on this host**", "- probes: not attached",
		"Nothing to compare: this host left out every dimension (fs; see above)")
	// -unprivileged makes the same choices for any user; -check prints them.
	check, err := exec.Command(lab, "sweep", "-check", "-unprivileged", "-plan", planFile, "-root", "../..").CombinedOutput()
	if err != nil {
		t.Fatalf("lab sweep -check -unprivileged: %v\n%s", err, check)
	}
	testutil.Contains(t, "lab sweep -check -unprivileged", string(check), "plan unprivileged-test: 1 cells, 4 repetitions", "skipped on this host: dimension fs left out",
		"skipped on this host: probes: not attached (-unprivileged)")
	// The lab cleaned up after itself: no journal left, an empty work dir.
	left, _ := filepath.Glob(filepath.Join(scratch, "brokerlab-*", "journal", "journal.jsonl"))
	if len(left) > 0 {
		t.Errorf("journal left behind: %v", left)
	}
}
