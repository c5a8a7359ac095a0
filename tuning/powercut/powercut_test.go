package powercut

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/brokerlab/brokerlab/internal/testutil"
	"github.com/brokerlab/brokerlab/tuning/host"
)

// lab is one mounted power-cut filesystem in a test.
type lab struct {
	t       *testing.T
	fs      *FS
	dir     string // the served directory
	mnt     string
	state   string // the host journal's directory
	session *host.Session
}

// mount mounts a power-cut filesystem over a fresh directory; prepare, if
// set, fills the directory first (its contents count as durable).
func mount(t *testing.T, opts Options, prepare func(dir string)) *lab {
	t.Helper()
	testutil.RequireFUSE(t, "a FUSE mount")
	base := t.TempDir()
	l := &lab{t: t, dir: filepath.Join(base, "dir"), mnt: filepath.Join(base, "mnt"), state: filepath.Join(base, "journal")}
	for _, d := range []string{l.dir, l.mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if prepare != nil {
		prepare(l.dir)
	}
	s, _, err := host.Open(host.Config{StateDir: l.state})
	if err != nil {
		t.Fatal(err)
	}
	l.session = s
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing the host session: %v", err)
		}
		requireUnmounted(t, l.mnt)
	})
	opts.Dir, opts.Mountpoint, opts.StateDir = l.dir, l.mnt, filepath.Join(base, "durable")
	f, err := Mount(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	l.fs = f
	return l
}

// cut cuts the power, unmounts and rebuilds the served directory.
func (l *lab) cut() CutReport {
	l.t.Helper()
	r := l.fs.Cut()
	if err := l.fs.Unmount(); err != nil {
		l.t.Fatal(err)
	}
	requireUnmounted(l.t, l.mnt)
	if err := l.fs.Recover(); err != nil {
		l.t.Fatal(err)
	}
	return r
}

func (l *lab) path(name string) string { return filepath.Join(l.mnt, name) }

// after reads a file of the served directory after the cut.
func (l *lab) after(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(l.dir, name))
}

func requireUnmounted(t *testing.T, mnt string) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == mnt {
			t.Errorf("%s is still mounted: %s", mnt, line)
		}
	}
}

func write(t *testing.T, f *os.File, b []byte, off int64) {
	t.Helper()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func syncDir(t *testing.T, dir string) {
	t.Helper()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
}

// replaceFile is the atomic-replace idiom up to, not including, the
// directory fsync: content into path.tmp, fsync it, rename it over path.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := create(t, path+".tmp")
	write(t, tmp, []byte(content), 0)
	if err := tmp.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func create(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestCutKeepsExactlyTheSyncedBytes(t *testing.T) {
	l := mount(t, Options{}, nil)
	f := create(t, l.path("log"))
	syncDir(t, l.mnt)
	first, second := bytes.Repeat([]byte("a"), 5000), bytes.Repeat([]byte("b"), 3000)
	write(t, f, first, 0)
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	write(t, f, second, 5000)
	// Until the cut, reads see everything written, as the page cache would.
	if got, err := os.ReadFile(l.path("log")); err != nil || !bytes.Equal(got, append(first, second...)) {
		t.Fatalf("read before the cut: %d bytes, %v; want all 8000", len(got), err)
	}
	r := l.cut()
	if r.LostBytes != 3000 || r.LostFiles != 1 {
		t.Errorf("cut report %+v, want 3000 bytes of 1 file lost", r)
	}
	if _, err := f.Write([]byte("x")); err == nil {
		t.Error("a write after the cut succeeded")
	}
	got, err := l.after("log")
	if err != nil || !bytes.Equal(got, first) {
		t.Errorf("after the cut: %d bytes (%q...), %v; want exactly the 5000 synced bytes", len(got), got[:min(len(got), 8)], err)
	}
}

func TestTornLastWriteKeepsASectorAlignedPrefix(t *testing.T) {
	for _, unit := range []int64{TornSector, TornPage} {
		t.Run(strings.TrimPrefix(filepathBase(unit), "/"), func(t *testing.T) {
			l := mount(t, Options{Torn: unit, Seed: uint64(unit)}, nil)
			f := create(t, l.path("log"))
			syncDir(t, l.mnt)
			head := bytes.Repeat([]byte("h"), 1000)
			write(t, f, head, 0)
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			lost := bytes.Repeat([]byte("l"), 8000)
			write(t, f, lost, 1000)
			tail := bytes.Repeat([]byte("t"), 20000)
			write(t, f, tail, 10000)
			r := l.cut()
			got, err := l.after("log")
			if err != nil {
				t.Fatal(err)
			}
			end := int64(len(got))
			if end%unit != 0 || end <= 10000 || end >= 30000 {
				t.Fatalf("after the cut the file has %d bytes; want a multiple of %d inside the last write (10000, 30000)", end, unit)
			}
			if !bytes.Equal(got[:1000], head) || !bytes.Equal(got[1000:10000], make([]byte, 9000)) || !bytes.Equal(got[10000:], tail[:end-10000]) {
				t.Errorf("after the cut: want the synced head, zeros where the unsynced write was, then a prefix of the last write")
			}
			if r.TornKept != end-10000 || r.TornOf != 20000 {
				t.Errorf("cut report %+v, want %d of 20000 bytes kept", r, end-10000)
			}
		})
	}
}

func filepathBase(unit int64) string {
	if unit == TornSector {
		return "sector"
	}
	return "page"
}

func TestACreatedFileNeedsItsDirectorySynced(t *testing.T) {
	for _, eager := range []bool{false, true} {
		name := "dir fsync"
		if eager {
			name = "eager metadata"
		}
		t.Run(name, func(t *testing.T) {
			l := mount(t, Options{EagerMetadata: eager}, nil)
			if err := os.Mkdir(l.path("sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			syncDir(t, l.mnt)
			// synced data and directory
			g := create(t, l.path("sub/kept"))
			write(t, g, []byte("data"), 0)
			if err := g.Sync(); err != nil {
				t.Fatal(err)
			}
			syncDir(t, l.path("sub"))
			// unsynced data, synced directory
			h := create(t, l.path("sub/empty"))
			syncDir(t, l.path("sub"))
			write(t, h, []byte("data"), 0)
			// synced data, created after the directory's last fsync
			f := create(t, l.path("sub/orphan"))
			write(t, f, []byte("data"), 0)
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			// created after the directory's last fsync, nothing synced
			create(t, l.path("sub/late"))
			l.cut()

			if got, err := l.after("sub/kept"); err != nil || string(got) != "data" {
				t.Errorf("sub/kept: %q, %v; want its synced data", got, err)
			}
			if got, err := l.after("sub/empty"); err != nil || len(got) != 0 {
				t.Errorf("sub/empty: %q, %v; want an empty file (its data was never synced)", got, err)
			}
			_, err := l.after("sub/orphan")
			if eager && err != nil {
				t.Errorf("sub/orphan: %v; with eager metadata its creation is durable", err)
			}
			if !eager && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("sub/orphan: %v; want it gone, its directory was not synced after it was created", err)
			}
			_, err = l.after("sub/late")
			if eager != (err == nil) {
				t.Errorf("sub/late: err %v with eager metadata %v", err, eager)
			}
		})
	}
}

func TestRenameAndUnlinkSurviveOnlyWithTheirDirectories(t *testing.T) {
	prepare := func(dir string) {
		for _, d := range []string{"a", "b", "c", "d"} {
			if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for name, data := range map[string]string{"config": "old", "victim": "here", "a/moved": "m", "c/x": "x"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	l := mount(t, Options{}, prepare)

	// The atomic-replace idiom without the final directory fsync: the old
	// content survives.
	replaceFile(t, l.path("config"), "new")
	if err := os.Remove(l.path("victim")); err != nil {
		t.Fatal(err)
	}
	// A move between directories with only the target synced: the file
	// is in both.
	if err := os.Rename(l.path("a/moved"), l.path("b/moved")); err != nil {
		t.Fatal(err)
	}
	syncDir(t, l.path("b"))
	// The same with both synced: it moved.
	if err := os.Rename(l.path("c/x"), l.path("d/x")); err != nil {
		t.Fatal(err)
	}
	syncDir(t, l.path("c"))
	syncDir(t, l.path("d"))
	l.cut()

	for name, want := range map[string]string{"config": "old", "victim": "here", "a/moved": "m", "b/moved": "m", "d/x": "x"} {
		if got, err := l.after(name); err != nil || string(got) != want {
			t.Errorf("%s after the cut: %q, %v; want %q", name, got, err, want)
		}
	}
	for _, name := range []string{"config.tmp", "c/x"} {
		if _, err := l.after(name); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after the cut: %v; want it absent", name, err)
		}
	}
}

func TestRenameWithTheDirectorySyncedReplaces(t *testing.T) {
	l := mount(t, Options{}, func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, "config"), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	replaceFile(t, l.path("config"), "new")
	syncDir(t, l.mnt)
	l.cut()
	if got, err := l.after("config"); err != nil || string(got) != "new" {
		t.Errorf("config: %q, %v; want the new content", got, err)
	}
	if _, err := l.after("config.tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("config.tmp: %v; want it gone", err)
	}
}

func TestTruncateIsDurableWithTheFilesFsync(t *testing.T) {
	l := mount(t, Options{}, func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, "seg"), bytes.Repeat([]byte("x"), 8192), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "other"), bytes.Repeat([]byte("y"), 8192), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	// Shrink and grow again: the synced file is 100 x's then zeros.
	if err := os.Truncate(l.path("seg"), 100); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(l.path("seg"), 4096); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(l.path("seg"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	// Not synced: the truncate is lost.
	if err := os.Truncate(l.path("other"), 10); err != nil {
		t.Fatal(err)
	}
	l.cut()
	want := append(bytes.Repeat([]byte("x"), 100), make([]byte, 3996)...)
	if got, err := l.after("seg"); err != nil || !bytes.Equal(got, want) {
		t.Errorf("seg: %d bytes, %v; want 100 x's and zeros to 4096", len(got), err)
	}
	if got, err := l.after("other"); err != nil || len(got) != 8192 {
		t.Errorf("other: %d bytes, %v; want the unsynced truncate lost", len(got), err)
	}
}

// What reaches the FUSE server: O_SYNC writes do; sync_file_range does
// not; sendfile from the mount works.
func TestWhatTheServerSees(t *testing.T) {
	l := mount(t, Options{}, nil)
	f, err := os.OpenFile(l.path("dsync"), os.O_RDWR|os.O_CREATE|unix.O_DSYNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syncDir(t, l.mnt)
	write(t, f, []byte("durable"), 0)
	s := l.fs.Stats()
	t.Logf("after one O_DSYNC write: %+v", s)
	if s.SyncWrites != 1 {
		t.Errorf("sync writes %d, want 1", s.SyncWrites)
	}

	g := create(t, l.path("range"))
	syncDir(t, l.mnt)
	write(t, g, []byte("written back?"), 0)
	before := l.fs.Stats()
	const waitAll = unix.SYNC_FILE_RANGE_WAIT_BEFORE | unix.SYNC_FILE_RANGE_WRITE | unix.SYNC_FILE_RANGE_WAIT_AFTER
	if err := unix.SyncFileRange(int(g.Fd()), 0, 0, waitAll); err != nil {
		t.Fatal(err)
	}
	after := l.fs.Stats()
	if after.Fsyncs != before.Fsyncs || after.Fdatasyncs != before.Fdatasyncs || after.DurableBytes != before.DurableBytes {
		t.Errorf("sync_file_range reached the server: %+v -> %+v", before, after)
	}

	// sendfile from a file on the mount to a pipe.
	src, err := os.Open(l.path("dsync"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	var off int64
	n, err := unix.Sendfile(p[1], int(src.Fd()), &off, 7)
	if err != nil || n != 7 {
		t.Fatalf("sendfile from the mount: %d, %v", n, err)
	}
	buf := make([]byte, 7)
	if _, err := unix.Read(p[0], buf); err != nil || string(buf) != "durable" {
		t.Errorf("sendfile moved %q, %v", buf, err)
	}

	l.cut()
	if got, err := l.after("dsync"); err != nil || string(got) != "durable" {
		t.Errorf("dsync: %q, %v; want the O_DSYNC write", got, err)
	}
	if got, err := l.after("range"); err != nil || len(got) != 0 {
		t.Errorf("range: %q, %v; sync_file_range makes nothing durable here", got, err)
	}
}

func TestUnmountLeavesNothingInTheJournal(t *testing.T) {
	l := mount(t, Options{}, nil)
	if err := l.fs.Unmount(); err != nil {
		t.Fatal(err)
	}
	requireUnmounted(t, l.mnt)
	if _, err := os.Stat(filepath.Join(l.state, "journal.jsonl")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("journal after unmount: %v; want it retired", err)
	}
}

// The restore path: the server dies without unmounting, and the next
// session's restore clears the mount.
func TestRestoreClearsTheMountOfAKilledServer(t *testing.T) {
	testutil.RequireFUSE(t, "a FUSE mount")
	if os.Getenv("POWERCUT_CHILD") != "" {
		t.Skip("runs in the parent")
	}
	base := t.TempDir()
	dir, mnt, state := filepath.Join(base, "dir"), filepath.Join(base, "mnt"), filepath.Join(base, "journal")
	for _, d := range []string{dir, mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPowercutChild$", "-test.v")
	cmd.Env = append(os.Environ(), "POWERCUT_CHILD="+strings.Join([]string{dir, mnt, state, filepath.Join(base, "durable")}, ","))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var seen strings.Builder
	for !strings.Contains(seen.String(), "MOUNTED") {
		n, err := out.Read(buf)
		if err != nil {
			t.Fatalf("child exited before mounting: %v\n%s", err, seen.String())
		}
		seen.Write(buf[:n])
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	b, _ := os.ReadFile("/proc/self/mountinfo")
	if !strings.Contains(string(b), " "+mnt+" ") {
		t.Fatalf("the dead server's mount on %s is gone before the restore; the test proves nothing", mnt)
	}
	undone, err := host.Restore(host.Config{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	if len(undone) != 1 || undone[0].Action != "undone" || !strings.Contains(undone[0].Detail, "forced the connection closed") {
		t.Errorf("restore did %v; want the FUSE mount aborted and detached", undone)
	}
	requireUnmounted(t, mnt)
	if _, err := os.ReadDir(mnt); err != nil { // would hang on a dead mount
		t.Errorf("reading %s after the restore: %v", mnt, err)
	}
}

// TestPowercutChild mounts and waits to be killed (run by the test above).
func TestPowercutChild(t *testing.T) {
	env := os.Getenv("POWERCUT_CHILD")
	if env == "" {
		t.Skip("run by TestRestoreClearsTheMountOfAKilledServer")
	}
	p := strings.Split(env, ",")
	s, _, err := host.Open(host.Config{StateDir: p[2]})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Mount(s, Options{Dir: p[0], Mountpoint: p[1], StateDir: p[3]}); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("MOUNTED\n")
	select {}
}

// A server that is alive but stuck: a reader on the mount waits for it, and
// the session's restore aborts the connection, which releases the reader.
func TestRestoreClearsAHungMount(t *testing.T) {
	l := mount(t, Options{}, func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	l.fs.gate.Lock() // every operation now waits
	released := false
	defer func() {
		if !released {
			l.fs.gate.Unlock()
		}
	}()
	done := make(chan error, 1)
	go func() {
		_, err := os.ReadFile(l.path("f"))
		done <- err
	}()
	undone, err := l.session.Restore()
	if err != nil {
		t.Fatal(err)
	}
	if len(undone) != 1 || undone[0].Action != "undone" {
		t.Errorf("restore did %v; want the mount cleared", undone)
	}
	if err := <-done; err == nil {
		t.Error("the reader on the hung mount read the file; want an error once the connection is aborted")
	}
	requireUnmounted(t, l.mnt)
	l.fs.gate.Unlock()
	released = true
}
