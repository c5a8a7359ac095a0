package bpf

import (
	"os"
	"testing"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

const (
	fsyncChildEnv    = "BROKERLAB_BPF_FSYNC_CHILD" // the cgroup directory the child joins
	fsyncChildFsyncs = 7
)

// fsyncChild does fsyncChildFsyncs fsyncs (in the cgroup: inCgroup).
func fsyncChild() error {
	f, err := os.CreateTemp("", "fsync-child")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	for range fsyncChildFsyncs {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	return nil
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
			cg := tempCgroup(t, tc.root, "cgroup.procs")
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
			runChild(t, fsyncChildEnv, cg, "fsync")
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
