package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// sweepTestPlan: two long cells on loop files, so SIGTERM lands mid-run
// with a filesystem mounted and the broker running.
const sweepTestPlan = `
name: sigterm-test
workload: workloads/1-topic-1-partition-100b.yaml
driver: workloads/driver-default.yaml
repetitions: 2
seed: 1
warmup: 0s
measure: 60s
base:
  disk: {kind: loop, size: 128MiB}
  sysctl: {kernel.printk_ratelimit: "7"}
matrix:
  - name: fs
    levels:
      - {name: ext4, filesystem: {type: ext4}}
      - {name: ext4-noatime, filesystem: {type: ext4, mount_options: [noatime]}}
`

func TestSweepRestoresTheHostOnSIGTERM(t *testing.T) {
	testutil.RequirePrivileged(t, "loop devices, mkfs, mount, sysctls and cgroups for lab sweep")
	testutil.RequireCommand(t, "mkfs.ext4", "apt-get install e2fsprogs")
	testutil.RequireCommand(t, "go", "install Go")
	// kernel.printk_ratelimit is harmless and no other test touches it.
	const key = "/proc/sys/kernel/printk_ratelimit"
	orig, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cur, _ := os.ReadFile(key); string(cur) != string(orig) {
			os.WriteFile(key, orig, 0o644)
		}
	})
	tmp := t.TempDir()
	lab, planFile := buildForSweep(t, tmp, sweepTestPlan)
	state, work := filepath.Join(tmp, "state"), filepath.Join(tmp, "work")
	cmd := exec.Command(lab, "sweep", "-plan", planFile, "-root", "../..",
		"-out", filepath.Join(tmp, "results"), "-work-dir", work, "-state", state, "-no-probes",
		"-config", "../../config/server.properties")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	lines := make(chan string, 100)
	go func() { // ends when lab exits and its stderr closes
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	// Wait until the first run's broker is up (the journal has a process).
	journal := filepath.Join(state, "journal.jsonl")
	testutil.WaitFor(t, 60*time.Second, func() error {
		b, _ := os.ReadFile(journal)
		if !strings.Contains(string(b), `"kind":"process"`) {
			return os.ErrNotExist
		}
		return nil
	})
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if !strings.Contains(string(mi), work) {
		t.Fatalf("no filesystem mounted under %s mid-run", work)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("lab did not exit within 60s of SIGTERM")
	}
	var out []string
	for l := range lines {
		out = append(out, l)
	}
	// 143 = 128+SIGTERM: the shell's status for a run a SIGTERM cut short.
	if code := cmd.ProcessState.ExitCode(); code != 143 {
		t.Errorf("lab exited %d after SIGTERM (%v); want 143, the interrupted sweep reported:\n%s", code, err, strings.Join(out, "\n"))
	}
	if _, err := os.Stat(journal); !os.IsNotExist(err) {
		b, _ := os.ReadFile(journal)
		t.Errorf("journal left after SIGTERM (restore incomplete):\n%s\nlab output:\n%s", b, strings.Join(out, "\n"))
	}
	if cur, _ := os.ReadFile(key); string(cur) != string(orig) {
		t.Errorf("kernel.printk_ratelimit = %q after SIGTERM, want %q", cur, orig)
	}
	mi, _ = os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), work) {
		t.Errorf("still mounted under %s after SIGTERM", work)
	}
	if ents, _ := os.ReadDir(work); len(ents) != 0 {
		t.Errorf("work dir not empty after SIGTERM: %v", ents)
	}
}

// buildForSweep builds lab and the broker into tmp/bin and writes plan to
// tmp/plan.yaml, for a test that runs lab sweep; it returns the lab binary
// and the plan file.
func buildForSweep(t *testing.T, tmp, plan string) (lab, planFile string) {
	t.Helper()
	bin := testutil.GoBuild(t, filepath.Join(tmp, "bin"), "./", "../broker")
	planFile = filepath.Join(tmp, "plan.yaml")
	if err := os.WriteFile(planFile, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(bin, "lab"), planFile
}
