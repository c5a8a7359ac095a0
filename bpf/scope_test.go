package bpf

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/internal/testutil"
	"golang.org/x/sys/unix"
)

const (
	fsyncChildEnv    = "BROKERLAB_BPF_FSYNC_CHILD" // the cgroup directory the child joins
	fsyncChildFsyncs = 7
)

// fsyncChild joins the cgroup and does fsyncChildFsyncs fsyncs.
func fsyncChild(cgroup string) int {
	if err := os.WriteFile(filepath.Join(cgroup, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "joining cgroup:", err)
		return 2
	}
	f, err := os.CreateTemp("", "fsync-child")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.Remove(f.Name())
	defer f.Close()
	for range fsyncChildFsyncs {
		if err := f.Sync(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	return 0
}

// tempCgroup makes a cgroup directory under root and removes it at cleanup.
func tempCgroup(t *testing.T, root string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
		testutil.Unavailable(t, "no cgroup hierarchy at %s: %v", root, err)
	}
	dir := filepath.Join(root, fmt.Sprintf("brokerlab-bpf-scope-%d-%d", os.Getpid(), time.Now().UnixNano()))
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

func TestCgroupScope(t *testing.T) {
	testutil.RequirePrivileged(t, "loading eBPF programs and creating cgroups")
	for _, tc := range []struct {
		name string
		root string
	}{
		{"a cgroup v2 directory matches bpf_get_current_cgroup_id", "/sys/fs/cgroup/unified"},
		{"a cgroup v1 memory directory matches the task's memcg", "/sys/fs/cgroup/memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cg := tempCgroup(t, tc.root)
			p := newTestProbes(t, Config{Families: []Family{FamilyFsync}, Cgroup: cg})
			before := snapshot(t, p)
			// Our own fsyncs are outside the cgroup and must not count.
			f, err := os.CreateTemp(t.TempDir(), "own")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for range 3 {
				if err := f.Sync(); err != nil {
					t.Fatal(err)
				}
			}
			child := exec.Command(os.Args[0], "-test.run=^$")
			child.Env = append(os.Environ(), fsyncChildEnv+"="+cg)
			if out, err := child.CombinedOutput(); err != nil {
				t.Fatalf("fsync child: %v\n%s", err, out)
			}
			w := snapshot(t, p).Delta(before)
			if got := w.Value(FamilyFsync, "fsync_calls"); got != fsyncChildFsyncs {
				t.Errorf("fsyncs in cgroup %s = %d, want exactly the child's %d", cg, got, fsyncChildFsyncs)
			}
		})
	}
	t.Run("a directory outside cgroupfs is refused", func(t *testing.T) {
		if _, err := New(Config{Families: []Family{FamilyFsync}, Cgroup: t.TempDir()}); err == nil {
			t.Fatal("New with a non-cgroup directory: want an error")
		}
	})
}
