package host

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/brokerlab/brokerlab/internal/fsutil"
)

// Kind names what an Entry changed; it selects how the entry is undone.
type Kind string

// The kinds of change the lab makes to the host. Each one's undo is
// idempotent: it checks whether the change is (still) in place first.
const (
	KindSysctl    Kind = "sysctl"    // Target: /proc/sys path; undo writes Old back
	KindFile      Kind = "file"      // Target: file created by the lab; undo removes it
	KindDir       Kind = "dir"       // Target: directory created by the lab; undo removes it if empty
	KindMount     Kind = "mount"     // Target: mount point; undo unmounts it if mounted
	KindLoop      Kind = "loop"      // Target: backing file; undo detaches every loop device on it
	KindMkfs      Kind = "mkfs"      // Target: device; audit only, the lab's loop file or zram disk goes with its own entry
	KindZram      Kind = "zram"      // Target: zramN (set by an update once known); undo resets and removes it
	KindSwap      Kind = "swap"      // Target: device; undo swapoff if it is in /proc/swaps
	KindCgroup    Kind = "cgroup"    // Target: cgroup directory; undo moves its tasks to the parent and removes it
	KindScheduler Kind = "scheduler" // Target: queue/scheduler file; undo writes Old back
	KindThrottle  Kind = "throttle"  // Target: blkio.throttle.* or io.max file; undo clears the device's limit
	KindProcess   Kind = "process"   // Target: pid, Attrs["starttime"]; undo kills it if it is still that process
	KindFuse      Kind = "fuse"      // Target: mount point, New: source; undo aborts the connection and detaches it
)

// Op is what a journal line records.
type Op string

// Journal line operations.
const (
	// OpChange is written before a change is made.
	OpChange Op = "change"
	// OpUpdate adds facts learned while making the change (a device name)
	// to the change with Seq == Ref.
	OpUpdate Op = "update"
	// OpUndone is written after the change with Seq == Ref was undone (or
	// found not to be in place).
	OpUndone Op = "undone"
)

// Entry is one line of the journal (JSON, one object per line).
type Entry struct {
	// Seq numbers the lines of one journal from 1.
	Seq int `json:"seq"`
	// Op is change, update or undone.
	Op Op `json:"op"`
	// Ref is the Seq of the change an update or undone line refers to.
	Ref int `json:"ref,omitempty"`
	// Time is when the line was written.
	Time time.Time `json:"time"`
	// PID is the lab process that wrote the line.
	PID int `json:"pid"`
	// Kind selects the undo action (changes only).
	Kind Kind `json:"kind,omitempty"`
	// Target is what changed: a path, a device, a pid.
	Target string `json:"target,omitempty"`
	// Old is the value before the change, where there is one.
	Old string `json:"old,omitempty"`
	// New is the value the change sets.
	New string `json:"new,omitempty"`
	// Attrs holds kind-specific facts (a mount's source, a cgroup's parent).
	Attrs map[string]string `json:"attrs,omitempty"`
	// Undo says in words what restores the change, for people reading the
	// journal and for `lab restore`'s report.
	Undo string `json:"undo,omitempty"`
}

func (e Entry) String() string {
	s := fmt.Sprintf("#%d %s %s", e.Seq, e.Kind, e.Target)
	if e.New != "" {
		s += " = " + e.New
	}
	return s
}

const (
	journalName = "journal.jsonl"
	lastName    = "journal.last.jsonl"
	lockName    = "lock"
)

// journal is the append-only file of changes in a state directory, held
// under an exclusive flock for the life of the process that opened it.
type journal struct {
	dir  string
	lock *os.File
	f    *os.File // nil until the first append
	seq  int
	// pending are the changes not yet undone, in the order they were made.
	pending []Entry
}

// openJournal creates dir if needed and takes its lock. It fails with
// ErrLocked (naming the holder's pid) if a live process holds it.
func openJournal(dir string) (*journal, error) {
	if err := MakePrivateDir(dir); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	lp := filepath.Join(dir, lockName)
	lf, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening journal lock %s: %w", lp, err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(io.LimitReader(lf, 32))
		lf.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s (pid %s); wait for it to finish or stop it (it restores the host on SIGINT/SIGTERM)",
				ErrLocked, lp, strings.TrimSpace(string(holder)))
		}
		return nil, fmt.Errorf("locking journal %s: %w", lp, err)
	}
	if err := lf.Truncate(0); err == nil {
		_, _ = lf.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &journal{dir: dir, lock: lf}, nil
}

func (j *journal) path() string { return filepath.Join(j.dir, journalName) }

// load reads a journal left behind by an earlier process and returns the
// changes it made that are not marked undone, in the order they were made.
// A torn last line (the process died mid-write) is ignored: its change was
// not made yet, since every change is journaled and synced first.
func (j *journal) load() ([]Entry, error) {
	data, err := readNoFollow(j.path())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading journal %s: %w", j.path(), err)
	}
	entries, err := parseJournal(data)
	if err != nil {
		return nil, fmt.Errorf("parsing journal %s: %w", j.path(), err)
	}
	for _, e := range entries {
		if e.Seq > j.seq {
			j.seq = e.Seq
		}
	}
	return pendingChanges(entries), nil
}

// parseJournal decodes JSON lines; a malformed line is an error unless it
// is the last one (torn by a crash).
func parseJournal(data []byte) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	line := 0
	var bad error
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if bad != nil {
			return nil, bad // a bad line followed by more lines: not a torn tail
		}
		var e Entry
		if err := json.Unmarshal(b, &e); err != nil {
			bad = fmt.Errorf("line %d: %w", line, err)
			continue
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// pendingChanges folds update lines into their changes and drops the
// changes marked undone.
func pendingChanges(entries []Entry) []Entry {
	var changes []Entry
	idx := map[int]int{}
	undone := map[int]bool{}
	for _, e := range entries {
		switch e.Op {
		case OpChange:
			idx[e.Seq] = len(changes)
			changes = append(changes, e)
		case OpUpdate:
			if i, ok := idx[e.Ref]; ok {
				c := &changes[i]
				if e.Target != "" {
					c.Target = e.Target
				}
				if e.New != "" {
					c.New = e.New
				}
				for k, v := range e.Attrs {
					if c.Attrs == nil {
						c.Attrs = map[string]string{}
					}
					c.Attrs[k] = v
				}
			}
		case OpUndone:
			undone[e.Ref] = true
		}
	}
	out := changes[:0]
	for _, c := range changes {
		if !undone[c.Seq] {
			out = append(out, c)
		}
	}
	return out
}

// append writes e as one line and fsyncs the file (and, the first time, the
// directory) before returning, so the line survives a crash.
func (j *journal) append(e Entry) (Entry, error) {
	if j.f == nil {
		f, err := os.OpenFile(j.path(), os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return e, fmt.Errorf("opening journal %s: %w", j.path(), err)
		}
		j.f = f
		if err := fsutil.SyncDir(j.dir); err != nil {
			return e, err
		}
	}
	j.seq++
	e.Seq = j.seq
	e.Time = time.Now().UTC()
	e.PID = os.Getpid()
	b, err := json.Marshal(e)
	if err != nil {
		return e, fmt.Errorf("encoding journal entry %s: %w", e, err)
	}
	b = append(b, '\n')
	if _, err := j.f.Write(b); err != nil {
		return e, fmt.Errorf("writing journal %s: %w", j.path(), err)
	}
	if err := j.f.Sync(); err != nil {
		return e, fmt.Errorf("syncing journal %s: %w", j.path(), err)
	}
	return e, nil
}

// retire moves a fully undone journal to journal.last.jsonl (kept for
// inspection) so the next Open finds nothing to replay.
func (j *journal) retire() error {
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
	if _, err := os.Stat(j.path()); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := os.Rename(j.path(), filepath.Join(j.dir, lastName)); err != nil {
		return fmt.Errorf("retiring journal %s: %w", j.path(), err)
	}
	j.seq = 0
	return fsutil.SyncDir(j.dir)
}

func (j *journal) close() error {
	var errs []error
	if j.f != nil {
		errs = append(errs, j.f.Close())
		j.f = nil
	}
	if j.lock != nil {
		errs = append(errs, j.lock.Close()) // closing releases the flock
		j.lock = nil
	}
	return errors.Join(errs...)
}

// readNoFollow reads a file of the state directory, refusing a symlink.
func readNoFollow(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}
