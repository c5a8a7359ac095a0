package bpf

import (
	"os"
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
