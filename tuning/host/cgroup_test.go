package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A fake cgroup v2 root: the session picks the unified hierarchy when it
// offers every controller asked for, and writes memory.max there.
func TestCgroupV2IsUsedWhenItOffersTheControllers(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("cpu io memory pids\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := openSession(t, Config{ProcRoot: fakeProc(t), CgroupRoot: root})
	cg, err := s.CreateCgroup("lab-broker", "memory", "blkio")
	if err != nil {
		t.Fatal(err)
	}
	if !cg.V2 || cg.Dirs[""] != filepath.Join(root, "lab-broker") {
		t.Fatalf("cgroup %+v, want v2 at %s/lab-broker", cg, root)
	}
	// The kernel would create memory.max; the fake root needs it made.
	if err := os.WriteFile(filepath.Join(root, "lab-broker", "memory.max"), []byte("max\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cg.SetMemoryLimit(256 << 20); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "lab-broker", "memory.max")); string(b) != "268435456" {
		t.Errorf("memory.max = %q", b)
	}
	os.Remove(filepath.Join(root, "lab-broker", "memory.max"))
	if _, err := s.Restore(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "lab-broker")); !os.IsNotExist(err) {
		t.Errorf("cgroup dir left: %v", err)
	}
}

func TestCgroupNeedsAHierarchy(t *testing.T) {
	s := openSession(t, Config{ProcRoot: fakeProc(t), CgroupRoot: t.TempDir()})
	_, err := s.CreateCgroup("lab-broker", "memory")
	if err == nil || !strings.Contains(err.Error(), "controller memory") {
		t.Fatalf("err = %v, want one naming the missing controller", err)
	}
	for _, bad := range []string{"", "..", "a/b"} {
		if _, err := s.CreateCgroup(bad, "memory"); err == nil {
			t.Errorf("CreateCgroup(%q): want an error", bad)
		}
	}
}
