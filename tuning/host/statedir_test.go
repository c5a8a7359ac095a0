package host

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenRefusesAStateDirItDoesNotOwnPrivately(t *testing.T) {
	base := t.TempDir()
	planted := filepath.Join(base, "planted")
	if err := os.Mkdir(planted, 0o700); err != nil {
		t.Fatal(err)
	}
	other := os.Geteuid() + 1
	if err := os.Chown(planted, other, other); err != nil {
		t.Skipf("cannot give a directory to another uid without root: %v", err)
	}
	wide := filepath.Join(base, "wide")
	if err := os.Mkdir(wide, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(wide, 0o777); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(base, "target")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ dir, want string }{
		{planted, "belongs to uid"},
		{wide, "writable by group or others"},
		{link, "symlink is refused"},
	} {
		s, _, err := Open(Config{StateDir: c.dir})
		if err == nil {
			s.Close()
			t.Errorf("Open(%s) accepted it; want an error saying %q", c.dir, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%s) = %v; want it to say %q", c.dir, err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(target, lockName)); err == nil {
		t.Error("Open followed the symlink and made its lock in the target")
	}

	// A fresh one is made 0700; an own one readable by others is narrowed.
	fresh := filepath.Join(base, "a", "b", "journal")
	s, _, err := Open(Config{StateDir: fresh})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if fi, _ := os.Stat(fresh); fi.Mode().Perm() != 0o700 {
		t.Errorf("new state dir has mode %v, want 0700", fi.Mode().Perm())
	}
}

func TestUserStateBaseIsPrivateNotTmp(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/home/u/.local/state")
	if got, _ := UserStateBase(); got != "/home/u/.local/state/brokerlab" {
		t.Errorf("UserStateBase = %q with $XDG_STATE_HOME set", got)
	}
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if got, _ := UserStateBase(); got != "/home/u/.cache/brokerlab" {
		t.Errorf("UserStateBase = %q, want under ~/.cache", got)
	}
}

// writeJournal writes change entries as a journal left by a crashed run.
func writeJournal(t *testing.T, state string, entries ...Entry) {
	t.Helper()
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i, e := range entries {
		e.Seq, e.Op = i+1, OpChange
		line, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(state, journalName), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestReplayTouchesOnlyWhatEachKindAllows(t *testing.T) {
	proc := fakeProc(t)
	home := t.TempDir()
	victim := filepath.Join(home, "notes.txt")
	victimDir := filepath.Join(home, "project")
	for _, p := range []string{victim, filepath.Join(victimDir, "main.go")} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("mine\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	state := filepath.Join(t.TempDir(), "journal")
	writeJournal(t, state,
		Entry{Kind: KindSysctl, Target: victim, Old: "overwritten"},
		Entry{Kind: KindSysctl, Target: filepath.Join(proc, "sys", "..", "..", filepath.Base(home), "notes.txt"), Old: "overwritten"},
		Entry{Kind: KindFile, Target: victim},
		Entry{Kind: KindDir, Target: victimDir, Attrs: map[string]string{"remove_all": "true"}},
	)
	undone, err := Restore(Config{StateDir: state, ProcRoot: proc})
	if err == nil || !strings.Contains(err.Error(), "must name a file under") {
		t.Errorf("Restore = %v; want it to refuse the sysctl entries outside %s/sys", err, proc)
	}
	for _, u := range undone {
		if u.Action == "undone" {
			t.Errorf("replay undid %s: %s", u.Entry, u.Detail)
		}
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "mine\n" {
		t.Errorf("%s after replay: %q, %v; want it untouched", victim, b, err)
	}
	if _, err := os.Stat(filepath.Join(victimDir, "main.go")); err != nil {
		t.Errorf("%s after replay: %v; want it untouched", victimDir, err)
	}
}

func TestRestoreRemovesOnlyTheFileItMade(t *testing.T) {
	dir := t.TempDir()
	made, replaced := filepath.Join(dir, "made.img"), filepath.Join(dir, "replaced.img")
	s := openSession(t, Config{})
	for _, p := range []string{made, replaced} {
		if err := s.CreateFile(p, 4096, false); err != nil {
			t.Fatal(err)
		}
	}
	// Someone swaps the second file for their own between the run and the
	// restore.
	if err := os.Remove(replaced); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(replaced, []byte("theirs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Restore(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(made); err == nil {
		t.Errorf("%s is still there; the lab made it", made)
	}
	if b, err := os.ReadFile(replaced); err != nil || string(b) != "theirs\n" {
		t.Errorf("%s after restore: %q, %v; want the replacement untouched", replaced, b, err)
	}
}
