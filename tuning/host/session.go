package host

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
)

// StateDirEnv overrides the default state directory.
const StateDirEnv = "LAB_STATE_DIR"

// DefaultStateDir holds root's journal unless Config.StateDir or
// $LAB_STATE_DIR says otherwise; other users' journals live under
// UserStateBase.
const DefaultStateDir = "/var/lib/brokerlab/journal"

// Config configures a Session. The zero value is ready to use.
type Config struct {
	// StateDir holds the journal and its lock. Default: $LAB_STATE_DIR, or
	// DefaultStateDir for root and <UserStateBase>/journal for other users.
	// It must be a directory of the effective user that nobody else can
	// write (see MakePrivateDir).
	StateDir string
	// ProcRoot is where procfs is mounted. Default "/proc".
	ProcRoot string
	// SysRoot is where sysfs is mounted. Default "/sys".
	SysRoot string
	// CgroupRoot is where the cgroup hierarchies are mounted. Default
	// "/sys/fs/cgroup".
	CgroupRoot string
	// RootDir is the directory whose disk is never formatted. Default "/".
	RootDir string
	// NamedDevices are block devices the user named explicitly as spare
	// disks the lab may format and mount (still refused when mounted, used
	// as swap or on the root disk).
	NamedDevices []string
	// Logger receives what is changed and undone. Nil discards.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.StateDir == "" {
		c.StateDir = os.Getenv(StateDirEnv)
	}
	if c.StateDir == "" {
		c.StateDir = defaultStateDir()
	}
	if c.ProcRoot == "" {
		c.ProcRoot = "/proc"
	}
	if c.SysRoot == "" {
		c.SysRoot = "/sys"
	}
	if c.CgroupRoot == "" {
		c.CgroupRoot = "/sys/fs/cgroup"
	}
	if c.RootDir == "" {
		c.RootDir = "/"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	c = c.withDefaults()
	if !filepath.IsAbs(c.StateDir) {
		errs = append(errs, fmt.Errorf("state dir %q: want an absolute path (set -state or $%s)", c.StateDir, StateDirEnv))
	}
	for _, d := range c.NamedDevices {
		if !filepath.IsAbs(d) {
			errs = append(errs, fmt.Errorf("named device %q: want an absolute device path such as /dev/vdb", d))
		}
	}
	return errors.Join(errs...)
}

// Session journals and applies changes to the host and undoes them. It
// holds the state directory's lock from Open until Close. Safe for
// concurrent use.
type Session struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex // guards everything below; held while a change is journaled and made
	j       *journal
	created map[string]bool // device nodes this session made (loop, zram)
	named   map[string]bool // device nodes the user named, symlinks resolved
	closed  bool
}

// Undone reports what happened to one journaled change during a restore.
type Undone struct {
	// Entry is the change.
	Entry Entry
	// Action is "undone", "skipped" (the change was not in place) or
	// "failed".
	Action string
	// Detail says what was done or why it was skipped.
	Detail string
	// Err is set when Action is "failed".
	Err error
}

func (u Undone) String() string {
	s := fmt.Sprintf("%-7s %s", u.Action, u.Entry)
	if u.Detail != "" {
		s += ": " + u.Detail
	}
	if u.Err != nil {
		s += ": " + u.Err.Error()
	}
	return s
}

// Open takes the state directory's lock and first restores whatever a
// previous process left in its journal (it crashed or was killed before it
// could); the returned Undone list reports that. It fails with ErrLocked
// while another lab process holds the lock. Close the Session to restore
// the host and release the lock.
func Open(cfg Config) (*Session, []Undone, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	cfg = cfg.withDefaults()
	j, err := openJournal(cfg.StateDir)
	if err != nil {
		return nil, nil, err
	}
	s := &Session{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "host"),
		j:       j,
		created: map[string]bool{},
		named:   map[string]bool{},
	}
	for _, d := range cfg.NamedDevices {
		if real, err := filepath.EvalSymlinks(d); err == nil {
			s.named[real] = true
		} else {
			s.named[d] = true
		}
	}
	left, err := j.load()
	if err != nil {
		j.close()
		return nil, nil, err
	}
	var undone []Undone
	if len(left) > 0 {
		s.log.Warn("restoring changes left by an earlier lab process", "journal", j.path(), "changes", len(left))
		j.pending = left
		undone, err = s.restoreLocked()
		if err != nil {
			j.close()
			return nil, undone, fmt.Errorf("restoring the journal left in %s: %w", cfg.StateDir, err)
		}
	} else if err := j.retire(); err != nil { // an empty or fully undone journal
		j.close()
		return nil, nil, err
	}
	return s, undone, nil
}

// Restore opens the state directory only to replay a leftover journal (what
// `lab restore` does) and releases it again.
func Restore(cfg Config) ([]Undone, error) {
	s, undone, err := Open(cfg)
	if err != nil {
		return undone, err
	}
	return undone, s.Close()
}

// StateDir is the directory holding this session's journal.
func (s *Session) StateDir() string { return s.cfg.StateDir }

// record journals a change before it is made. The caller holds s.mu.
func (s *Session) record(e Entry) (Entry, error) {
	if s.closed {
		return e, ErrClosed
	}
	e.Op = OpChange
	e, err := s.j.append(e)
	if err != nil {
		return e, err
	}
	s.j.pending = append(s.j.pending, e)
	s.log.Debug("journaled change", "seq", e.Seq, "kind", e.Kind, "target", e.Target, "new", e.New)
	return e, nil
}

// update journals facts learned while making change e (a device name).
func (s *Session) update(e *Entry, target, newValue string, attrs map[string]string) error {
	u := Entry{Op: OpUpdate, Ref: e.Seq, Target: target, New: newValue, Attrs: attrs}
	if _, err := s.j.append(u); err != nil {
		return err
	}
	for i := range s.j.pending {
		if s.j.pending[i].Seq == e.Seq {
			p := &s.j.pending[i]
			if target != "" {
				p.Target = target
			}
			if newValue != "" {
				p.New = newValue
			}
			for k, v := range attrs {
				if p.Attrs == nil {
					p.Attrs = map[string]string{}
				}
				p.Attrs[k] = v
			}
			*e = *p
		}
	}
	return nil
}

// Restore undoes every change of this session in reverse order (the end of
// a cell) and reports what it did. The session stays open for more changes.
func (s *Session) Restore() ([]Undone, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	return s.restoreLocked()
}

// Mark returns a point in the session's changes; RestoreTo(mark) undoes
// only the changes made after it (the runner keeps a prepared disk across
// runs this way and restores the per-run knobs).
func (s *Session) Mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.j.pending); n > 0 {
		return s.j.pending[n-1].Seq
	}
	return 0
}

// RestoreTo undoes, in reverse order, the changes made after mark.
func (s *Session) RestoreTo(mark int) ([]Undone, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	keep := 0
	for keep < len(s.j.pending) && s.j.pending[keep].Seq <= mark {
		keep++
	}
	return s.undoFrom(keep)
}

func (s *Session) restoreLocked() ([]Undone, error) {
	return s.undoFrom(0)
}

// undoFrom undoes pending[from:] in reverse order; when nothing is left
// pending the journal is retired.
func (s *Session) undoFrom(from int) ([]Undone, error) {
	var out []Undone
	var errs []error
	var failed []Entry
	for i := len(s.j.pending) - 1; i >= from; i-- {
		e := s.j.pending[i]
		action, detail, err := "", "", s.allowed(e)
		if err == nil {
			action, detail, err = s.undo(e)
		}
		u := Undone{Entry: e, Action: action, Detail: detail, Err: err}
		if err != nil {
			u.Action = "failed"
			errs = append(errs, fmt.Errorf("undoing %s: %w", e, err))
			failed = append([]Entry{e}, failed...)
			s.log.Error("undo failed", "seq", e.Seq, "kind", e.Kind, "target", e.Target, "err", err)
		} else {
			s.log.Debug("restored", "seq", e.Seq, "kind", e.Kind, "target", e.Target, "action", action, "detail", detail)
			if _, jerr := s.j.append(Entry{Op: OpUndone, Ref: e.Seq}); jerr != nil {
				errs = append(errs, jerr)
			}
		}
		out = append(out, u)
	}
	s.j.pending = append(s.j.pending[:from:from], failed...)
	for _, d := range out {
		if d.Err == nil && (d.Entry.Kind == KindLoop || d.Entry.Kind == KindZram) {
			delete(s.created, d.Entry.New)
		}
	}
	if len(s.j.pending) == 0 && len(errs) == 0 {
		if err := s.j.retire(); err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// Close restores every change still in place, then releases the journal
// lock. It is idempotent. If some change could not be undone, the journal
// stays for `lab restore` and Close returns the errors.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	_, err := s.restoreLocked()
	s.closed = true
	return errors.Join(err, s.j.close())
}
