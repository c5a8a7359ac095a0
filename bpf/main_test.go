package bpf

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMain runs the swap and scope tests' children when the test binary is
// re-executed with their variable set, and the tests otherwise. If tracefs
// was not mounted before the tests and New mounted it, it is unmounted
// afterwards, leaving the host as it was.
func TestMain(m *testing.M) {
	for env, child := range map[string]func() error{swapChildEnv: swapChild, fsyncChildEnv: fsyncChild, tcpMemChildEnv: tcpMemChild} {
		if cg := os.Getenv(env); cg != "" {
			os.Exit(inCgroup(cg, child))
		}
	}
	_, err := os.Stat(filepath.Join(DefaultTracefsDir, "events"))
	hadTracefs := err == nil
	code := m.Run()
	if _, err := os.Stat(filepath.Join(DefaultTracefsDir, "events")); !hadTracefs && err == nil {
		_ = unix.Unmount(DefaultTracefsDir, 0) // EBUSY: someone else uses it now; leave it
	}
	os.Exit(code)
}

// inCgroup is a child process of a test (TestMain's): it joins cgroup and
// runs child there, and returns the exit status, 2 with the error on
// stderr when joining or child failed.
func inCgroup(cgroup string, child func() error) int {
	err := joinCgroup(cgroup)
	if err == nil {
		err = child()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	return 0
}

// runChild re-executes the test binary as the child that env names (see
// TestMain), in the cgroup cg, and fails the test if the child fails.
func runChild(t *testing.T, env, cg, what string) {
	t.Helper()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), env+"="+cg)
	if out, err := child.CombinedOutput(); err != nil {
		t.Fatalf("%s child: %v\n%s", what, err, out)
	}
}
