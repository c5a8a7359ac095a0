package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cilium/ebpf"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// newTestProbes loads the given families scoped to this test process and
// closes them at the end of the test. A family that cannot load fails the
// test (or skips it where privileges are missing).
func newTestProbes(t testing.TB, cfg Config) *Probes {
	t.Helper()
	testutil.RequirePrivileged(t, "loading eBPF programs")
	if cfg.PID == 0 && cfg.Cgroup == "" {
		cfg.PID = os.Getpid()
	}
	p, err := New(cfg)
	if err != nil {
		testutil.Unavailable(t, "loading probes: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("closing probes: %v", err)
		}
	})
	for _, f := range cfg.Families {
		if err := p.Err(f); errors.Is(err, ebpf.ErrNotSupported) {
			testutil.Unavailable(t, "probe family %s: %v", f, err)
		} else if err != nil {
			t.Fatalf("probe family %s failed to load (not a missing kernel feature): %v", f, err)
		}
	}
	return p
}

// tempFile creates name in a temp dir of the test with size zero bytes
// written to it, and closes it at the end of the test.
func tempFile(tb testing.TB, name string, size int) *os.File {
	tb.Helper()
	f, err := os.Create(filepath.Join(tb.TempDir(), name))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	if size > 0 {
		if _, err := f.Write(make([]byte, size)); err != nil {
			tb.Fatal(err)
		}
	}
	return f
}

func snapshot(t testing.TB, p *Probes) Snapshot {
	t.Helper()
	s, err := p.Snapshot()
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return s
}

// tempCgroup makes a cgroup directory under root, whose marker file says
// the hierarchy (or controller) is there, and removes it at cleanup once
// its tasks are gone.
func tempCgroup(t *testing.T, root, marker string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(root, marker)); err != nil {
		testutil.Unavailable(t, "no cgroup hierarchy with %s at %s: %v", marker, root, err)
	}
	dir := filepath.Join(root, fmt.Sprintf("brokerlab-bpf-test-%d-%d", os.Getpid(), time.Now().UnixNano()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("creating cgroup: %v", err)
	}
	t.Cleanup(func() {
		testutil.WaitFor(t, 10*time.Second, func() error {
			if err := unix.Rmdir(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("removing cgroup %s: %w", dir, err)
			}
			return nil
		})
	})
	return dir
}

// joinCgroup moves the calling process into cgroup (the tests' children
// call it first thing).
func joinCgroup(cgroup string) error {
	if err := os.WriteFile(filepath.Join(cgroup, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fmt.Errorf("joining cgroup %s: %w", cgroup, err)
	}
	return nil
}
