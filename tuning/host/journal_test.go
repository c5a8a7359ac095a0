package host

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeProc builds a proc root with two sysctl files.
func fakeProc(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for key, v := range map[string]string{"vm/swappiness": "60\n", "net/ipv4/tcp_rmem": "4096\t131072\t6291456\n"} {
		p := filepath.Join(root, "sys", key)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// openSession opens a session on cfg, in a fresh state dir unless cfg
// names one, and closes it at the end of the test.
func openSession(t *testing.T, cfg Config) *Session {
	t.Helper()
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	s, _, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func read(t *testing.T, proc, key string) string {
	t.Helper()
	v, err := ReadSysctl(proc, key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSessionRestoresSysctlsAtTheEndOfACell(t *testing.T) {
	proc := fakeProc(t)
	s := openSession(t, Config{ProcRoot: proc})
	if err := s.SetSysctl("vm.swappiness", "1"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSysctl("vm.swappiness", "10"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSysctl("net.ipv4.tcp_rmem", "4096 131072 6291456"); err != nil { // same value: no entry
		t.Fatal(err)
	}
	if got := read(t, proc, "vm.swappiness"); got != "10" {
		t.Fatalf("swappiness = %q, want 10", got)
	}
	undone, err := s.Restore()
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, proc, "vm.swappiness"); got != "60" {
		t.Errorf("after restore swappiness = %q, want 60", got)
	}
	var got []string
	for _, u := range undone {
		got = append(got, u.Action+" "+u.Entry.New)
	}
	if diff := cmp.Diff([]string{"undone 10", "undone 1"}, got); diff != "" {
		t.Errorf("undone (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(s.StateDir(), journalName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("journal still present after a full restore: %v", err)
	}
}

func TestOpenReplaysAJournalLeftByACrash(t *testing.T) {
	proc := fakeProc(t)
	state := t.TempDir()
	s, _, err := Open(Config{StateDir: state, ProcRoot: proc})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetSysctl("vm.swappiness", "5"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSysctl("net.ipv4.tcp_rmem", "8192 262144 8388608"); err != nil {
		t.Fatal(err)
	}
	// The process "dies": the lock goes with its file descriptors, nothing
	// is restored.
	s.j.close()
	// A torn last line, as a crash in the middle of a write leaves.
	f, err := os.OpenFile(filepath.Join(state, journalName), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"seq":3,"op":"change","kind":"sysctl","tar`)
	f.Close()

	undone, err := Restore(Config{StateDir: state, ProcRoot: proc})
	if err != nil {
		t.Fatal(err)
	}
	if len(undone) != 2 {
		t.Fatalf("undone %d changes, want 2: %v", len(undone), undone)
	}
	if got := read(t, proc, "vm.swappiness"); got != "60" {
		t.Errorf("swappiness = %q, want 60", got)
	}
	if got := read(t, proc, "net.ipv4.tcp_rmem"); !sameValue(got, "4096 131072 6291456") {
		t.Errorf("tcp_rmem = %q, want the original", got)
	}
	// Nothing is left to do the second time.
	undone, err = Restore(Config{StateDir: state, ProcRoot: proc})
	if err != nil || len(undone) != 0 {
		t.Errorf("second restore: undone %v, err %v; want nothing", undone, err)
	}
}

func TestUndoSkipsChangesThatNeverHappened(t *testing.T) {
	proc := fakeProc(t)
	state := t.TempDir()
	// A journal whose process died after journaling but before making the
	// changes: the sysctl still has its old value, the file was never made.
	lines := []string{
		`{"seq":1,"op":"change","kind":"sysctl","target":"` + filepath.Join(proc, "sys/vm/swappiness") + `","old":"60","new":"1"}`,
		`{"seq":2,"op":"change","kind":"file","target":"` + filepath.Join(state, "never-created.img") + `"}`,
		`{"seq":3,"op":"change","kind":"zram"}`,
		`{"seq":4,"op":"change","kind":"file","target":"/nonexistent/x"}`,
		`{"seq":5,"op":"undone","ref":4}`,
	}
	if err := os.WriteFile(filepath.Join(state, journalName), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	undone, err := Restore(Config{StateDir: state, ProcRoot: proc})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range undone {
		got = append(got, string(u.Entry.Kind)+" "+u.Action)
	}
	want := []string{"zram skipped", "file skipped", "sysctl skipped"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestOpenRefusesALockedStateDir(t *testing.T) {
	state := t.TempDir()
	openSession(t, Config{StateDir: state, ProcRoot: fakeProc(t)})
	_, _, err := Open(Config{StateDir: state, ProcRoot: fakeProc(t)})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "pid") {
		t.Errorf("error %q does not name the holder's pid", err)
	}
}

func TestClosedSessionRefusesChanges(t *testing.T) {
	s, _, err := Open(Config{StateDir: t.TempDir(), ProcRoot: fakeProc(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.SetSysctl("vm.swappiness", "1"); !errors.Is(err, ErrClosed) {
		t.Errorf("SetSysctl after Close: %v, want ErrClosed", err)
	}
}

func TestConfigValidateNamesTheProblem(t *testing.T) {
	err := Config{StateDir: "relative/dir", NamedDevices: []string{"vdb"}}.Validate()
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{`"relative/dir"`, `"vdb"`, "/dev/vdb"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestSysctlPath(t *testing.T) {
	for key, want := range map[string]string{
		"vm.swappiness":           "/proc/sys/vm/swappiness",
		"net.ipv4.tcp_rmem":       "/proc/sys/net/ipv4/tcp_rmem",
		"net/ipv4/conf/eth0.1/rp": "/proc/sys/net/ipv4/conf/eth0.1/rp",
	} {
		got, err := SysctlPath("/proc", key)
		if err != nil || got != want {
			t.Errorf("SysctlPath(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
	for _, bad := range []string{"", "vm..swappiness", "../etc/passwd", "vm/../../x", "vm.swap piness"} {
		if _, err := SysctlPath("/proc", bad); err == nil {
			t.Errorf("SysctlPath(%q): want an error", bad)
		}
	}
}

func TestRestoreToKeepsChangesBeforeTheMark(t *testing.T) {
	proc := fakeProc(t)
	s := openSession(t, Config{ProcRoot: proc})
	if err := s.SetSysctl("net.ipv4.tcp_rmem", "8192 262144 8388608"); err != nil {
		t.Fatal(err)
	}
	mark := s.Mark()
	for _, v := range []string{"5", "1"} {
		if err := s.SetSysctl("vm.swappiness", v); err != nil {
			t.Fatal(err)
		}
	}
	undone, err := s.RestoreTo(mark)
	if err != nil || len(undone) != 2 {
		t.Fatalf("RestoreTo: %v, %v", undone, err)
	}
	if got := read(t, proc, "vm.swappiness"); got != "60" {
		t.Errorf("swappiness = %q, want 60", got)
	}
	if got := read(t, proc, "net.ipv4.tcp_rmem"); !sameValue(got, "8192 262144 8388608") {
		t.Errorf("tcp_rmem = %q: the change before the mark was undone", got)
	}
	// A crash now: the next Open still restores the change before the mark.
	s.j.close()
	if _, err := Restore(Config{StateDir: s.StateDir(), ProcRoot: proc}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, proc, "net.ipv4.tcp_rmem"); !sameValue(got, "4096 131072 6291456") {
		t.Errorf("tcp_rmem = %q after the crash restore", got)
	}
	s.closed = true
}

func TestDropCachesWritesThree(t *testing.T) {
	proc := fakeProc(t)
	p := filepath.Join(proc, "sys", "vm", "drop_caches")
	if err := os.WriteFile(p, []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := DropCaches(proc); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "3" {
		t.Errorf("drop_caches = %q, want 3", b)
	}
}
