package powercut

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/brokerlab/brokerlab/tuning/host"
)

// Source is the mount source of every power-cut mount (the "fsname"
// shown in /proc/self/mountinfo); the journal's undo recognises it.
const Source = "brokerlab-powercut"

// Torn-write units: a sector and a page.
const (
	TornSector = 512  // the logical sector of most disks
	TornPage   = 4096 // the page size on x86-64 and most arm64 kernels
)

// Options configures a power-cut mount.
type Options struct {
	// Dir is the real directory served; it must exist. Its contents at
	// Mount are taken as durable.
	Dir string
	// Mountpoint is where the filesystem is mounted; it must exist and not
	// be inside Dir.
	Mountpoint string
	// StateDir holds the durable copy of every file's data. It is created
	// if missing and emptied at Mount; it must not be inside Dir.
	StateDir string
	// EagerMetadata makes directory changes and size changes durable as
	// they happen, so only unsynced file data is lost at a cut.
	EagerMetadata bool
	// Torn, if not 0, keeps a prefix of the last write not yet durable at
	// a cut, ending at a multiple of Torn bytes (TornSector, TornPage).
	Torn int64
	// Seed seeds the choice of the torn prefix.
	Seed uint64
	// Logger receives the mount, the cut and the recovery. Nil discards.
	Logger *slog.Logger
}

// Stats counts what reached the filesystem, to show which calls a FUSE
// server sees at all.
type Stats struct {
	Writes, WriteBytes    uint64 // WRITE requests and their bytes
	SyncWrites            uint64 // writes through an O_SYNC/O_DSYNC handle
	Fsyncs, Fdatasyncs    uint64 // FSYNC without and with the datasync flag
	Fsyncdirs             uint64 // FSYNCDIR
	Flushes               uint64 // FLUSH (close of a descriptor)
	Truncates, Allocates  uint64 // size changes
	DurableBytes          uint64 // bytes copied to the durable state
	DirSnapshots          uint64 // directories made durable
	CopyFileRangeRefusals uint64 // copy_file_range answered ENOSYS
}

// CutReport says what a power cut dropped.
type CutReport struct {
	// LostBytes is the number of written bytes that were not durable.
	LostBytes int64
	// LostFiles is the number of files with such bytes.
	LostFiles int
	// TornFile is the file whose last write kept a prefix ("" if none).
	TornFile string
	// TornKept is the prefix's length in bytes, TornOf the write's.
	TornKept, TornOf int64
}

// FS is a mounted power-cut filesystem.
type FS struct {
	opts Options
	log  *slog.Logger
	rand *rand.Rand

	// gate is held shared by every operation and exclusively by Cut, so
	// an operation either completes before the cut or fails after it.
	gate sync.RWMutex
	cut  atomic.Bool

	meta   sync.Mutex // guards the fields below; taken after an inode's mu
	nextID uint64
	byIno  map[uint64]*inode          // live inode number -> state
	dirs   map[uint64]map[string]dent // durable entries by directory id
	rootID uint64
	last   *lastWrite

	stats struct {
		writes, writeBytes, syncWrites, fsyncs, fdatasyncs, fsyncdirs, flushes,
		truncates, allocates, durableBytes, dirSnapshots, cfr atomic.Uint64
	}

	session *host.Session
	mark    int
	server  *fuse.Server
	report  CutReport
}

// inode is the durability state of one live file or directory.
type inode struct {
	id  uint64
	dir bool

	mu    sync.Mutex // held across a write and its bookkeeping, and across a sync
	dirty spans      // bytes written since the last sync
	trunc int64      // the lowest size set since the last sync, -1 if none
	path  string     // a live path, for reports
}

// dent is a durable directory entry.
type dent struct {
	id   uint64
	mode uint32 // type and permission bits
	link string // a symlink's target
}

// lastWrite is a copy of the last write not yet durable (the one a cut
// may tear). Writes that continue it are appended (the kernel splits one
// write(2) into FUSE writes at page boundaries), keeping at most
// maxTornWrite bytes.
const maxTornWrite = 1 << 20

type lastWrite struct {
	ino  *inode
	off  int64
	data []byte
}

// Mount scans opts.Dir (everything in it counts as durable), copies its
// files into opts.StateDir, journals the mount in s and mounts the
// filesystem. Unmount it (after the processes using it are gone), or let
// the session's restore detach it.
func Mount(s *host.Session, opts Options) (*FS, error) {
	for _, p := range []*string{&opts.Dir, &opts.Mountpoint, &opts.StateDir} {
		if !filepath.IsAbs(*p) {
			return nil, fmt.Errorf("power-cut mount: want absolute paths, got dir %q, mountpoint %q, state dir %q", opts.Dir, opts.Mountpoint, opts.StateDir)
		}
		*p = filepath.Clean(*p)
	}
	for _, p := range []string{opts.Mountpoint, opts.StateDir} {
		if p == opts.Dir || strings.HasPrefix(p, opts.Dir+"/") {
			return nil, fmt.Errorf("power-cut mount: %s must not be inside the served directory %s", p, opts.Dir)
		}
	}
	if opts.Torn < 0 || opts.Torn > 0 && opts.Torn%TornSector != 0 {
		return nil, fmt.Errorf("power-cut mount: torn unit %d: want 0 or a multiple of %d (a sector)", opts.Torn, TornSector)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	f := &FS{
		opts:    opts,
		log:     opts.Logger.With("component", "powercut", "dir", opts.Dir),
		rand:    rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15)),
		nextID:  1,
		byIno:   map[uint64]*inode{},
		dirs:    map[uint64]map[string]dent{},
		session: s,
	}
	if err := os.RemoveAll(opts.StateDir); err != nil {
		return nil, fmt.Errorf("emptying power-cut state dir %s: %w", opts.StateDir, err)
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating power-cut state dir %s: %w", opts.StateDir, err)
	}
	if err := f.scan(); err != nil {
		return nil, err
	}

	var st syscall.Stat_t
	if err := syscall.Stat(opts.Dir, &st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", opts.Dir, err)
	}
	root := &fs.LoopbackRoot{Path: opts.Dir, Dev: uint64(st.Dev)}
	root.NewNode = func(r *fs.LoopbackRoot, _ *fs.Inode, _ string, _ *syscall.Stat_t) fs.InodeEmbedder {
		return &node{LoopbackNode: fs.LoopbackNode{RootData: r}, pc: f}
	}
	rootNode := root.NewNode(root, nil, "", &st)
	root.RootNode = rootNode

	// Short attribute and entry caches; no cache of failed lookups, so a
	// file created through another path is seen at once.
	second := time.Second
	var zero time.Duration
	mo := &fs.Options{
		EntryTimeout:    &second,
		AttrTimeout:     &second,
		NegativeTimeout: &zero,
		MountOptions: fuse.MountOptions{
			FsName:            Source,
			Name:              "powercut",
			DirectMountStrict: true, // root mounts with mount(2); no fusermount
			AllowOther:        true, // the broker may run as another user
			DisableXAttrs:     true,
			Logger:            newStdLogger(f.log),
		},
	}
	f.mark = s.Mark()
	err := s.MountFUSE(opts.Mountpoint, Source, func() error {
		srv, err := fs.Mount(opts.Mountpoint, rootNode, mo)
		if err != nil {
			return fmt.Errorf("mounting the power-cut filesystem on %s: %w", opts.Mountpoint, err)
		}
		f.server = srv
		return nil
	})
	if err != nil {
		_, _ = s.RestoreTo(f.mark)
		return nil, err
	}
	f.log.Info("power-cut filesystem mounted", "mountpoint", opts.Mountpoint, "eager_metadata", opts.EagerMetadata, "torn", opts.Torn)
	return f, nil
}

// scan assigns ids to everything in Dir and copies it to the durable state.
func (f *FS) scan() error {
	return filepath.Walk(f.opts.Dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return fmt.Errorf("scanning %s: %w", p, err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		ino := f.inode(st.Ino, fi.IsDir(), p)
		if p == f.opts.Dir {
			f.rootID = ino.id
		}
		switch {
		case fi.IsDir():
			return f.snapshotDir(p)
		case fi.Mode().IsRegular():
			n, err := copyFile(f.storePath(ino.id), p)
			f.stats.durableBytes.Add(uint64(n))
			return err
		}
		return nil
	})
}

// assign gives the live inode a new id: a file or directory was created.
func (f *FS) assign(liveIno uint64, dir bool, path string) *inode {
	f.meta.Lock()
	defer f.meta.Unlock()
	ino := &inode{id: f.nextID, dir: dir, trunc: -1, path: path}
	f.nextID++
	f.byIno[liveIno] = ino
	return ino
}

// inode returns the state of a live inode, creating it if the file was
// made behind the filesystem's back.
func (f *FS) inode(liveIno uint64, dir bool, path string) *inode {
	f.meta.Lock()
	ino := f.byIno[liveIno]
	f.meta.Unlock()
	if ino == nil {
		ino = f.assign(liveIno, dir, path)
	}
	return ino
}

func (f *FS) storePath(id uint64) string {
	return filepath.Join(f.opts.StateDir, strconv.FormatUint(id, 10))
}

// enter admits an operation unless the power is cut; call the returned
// function when it is done.
func (f *FS) enter() (func(), syscall.Errno) {
	f.gate.RLock()
	if f.cut.Load() {
		f.gate.RUnlock()
		return nil, syscall.EIO
	}
	return f.gate.RUnlock, 0
}

// snapshotDir makes the live directory at path durable as it is now.
func (f *FS) snapshotDir(path string) error {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	dirIno := f.inode(st.Ino, true, path)
	ents, err := os.ReadDir(path)
	if err != nil {
		return fmt.Errorf("reading directory %s: %w", path, err)
	}
	snap := make(map[string]dent, len(ents))
	for _, e := range ents {
		p := filepath.Join(path, e.Name())
		var cst syscall.Stat_t
		if err := syscall.Lstat(p, &cst); err != nil {
			continue // removed meanwhile
		}
		d := dent{id: f.inode(cst.Ino, cst.Mode&syscall.S_IFMT == syscall.S_IFDIR, p).id, mode: cst.Mode}
		if cst.Mode&syscall.S_IFMT == syscall.S_IFLNK {
			d.link, _ = os.Readlink(p)
		}
		snap[e.Name()] = d
	}
	f.meta.Lock()
	f.dirs[dirIno.id] = snap
	f.meta.Unlock()
	f.stats.dirSnapshots.Add(1)
	return nil
}

// persist makes ino's written bytes and size durable; the caller holds
// ino.mu. fd is a live descriptor of the file, perhaps write-only: the
// bytes are read through a read-only reopening of it.
func (f *FS) persist(ino *inode, fd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if len(ino.dirty) > 0 {
		rfd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("reopening %s to read it: %w", ino.path, err)
		}
		defer unix.Close(rfd)
		fd = rfd
	}
	out, err := os.OpenFile(f.storePath(ino.id), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	if ino.trunc >= 0 {
		if err := out.Truncate(ino.trunc); err != nil {
			return err
		}
	}
	buf := make([]byte, 128<<10)
	for _, s := range ino.dirty.clip(st.Size) {
		for off := s.off; off < s.end; {
			n, err := unix.Pread(fd, buf[:min(int64(len(buf)), s.end-off)], off)
			if err != nil {
				return err
			}
			if n == 0 {
				break
			}
			if _, err := out.WriteAt(buf[:n], off); err != nil {
				return err
			}
			f.stats.durableBytes.Add(uint64(n))
			off += int64(n)
		}
	}
	if err := out.Truncate(st.Size); err != nil {
		return err
	}
	ino.dirty, ino.trunc = nil, -1
	f.meta.Lock()
	if f.last != nil && f.last.ino == ino {
		f.last = nil
	}
	f.meta.Unlock()
	return nil
}

// truncated records a size change of ino to size; the caller holds ino.mu.
func (f *FS) truncated(ino *inode, size int64) error {
	f.stats.truncates.Add(1)
	ino.dirty = ino.dirty.clip(size)
	if !f.opts.EagerMetadata {
		if ino.trunc < 0 || size < ino.trunc {
			ino.trunc = size
		}
		return nil
	}
	out, err := os.OpenFile(f.storePath(ino.id), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	return out.Truncate(size)
}

// Stats returns the operation counts so far.
func (f *FS) Stats() Stats {
	s := &f.stats
	return Stats{
		Writes: s.writes.Load(), WriteBytes: s.writeBytes.Load(), SyncWrites: s.syncWrites.Load(),
		Fsyncs: s.fsyncs.Load(), Fdatasyncs: s.fdatasyncs.Load(), Fsyncdirs: s.fsyncdirs.Load(),
		Flushes: s.flushes.Load(), Truncates: s.truncates.Load(), Allocates: s.allocates.Load(),
		DurableBytes: s.durableBytes.Load(), DirSnapshots: s.dirSnapshots.Load(),
		CopyFileRangeRefusals: s.cfr.Load(),
	}
}

// Cut cuts the power: every later operation fails with EIO, and only the
// durable state (plus, with Options.Torn, a prefix of the last write) will
// be left by Recover. Operations in flight finish first. Cut is idempotent.
func (f *FS) Cut() CutReport {
	f.gate.Lock()
	defer f.gate.Unlock()
	if f.cut.Swap(true) {
		return f.report
	}
	f.meta.Lock()
	defer f.meta.Unlock()
	var r CutReport
	for _, ino := range f.byIno {
		if n := ino.dirty.bytes(); n > 0 {
			r.LostBytes += n
			r.LostFiles++
		}
	}
	if w := f.last; f.opts.Torn > 0 && w != nil {
		wlen := int64(len(w.data))
		r.TornFile, r.TornOf = w.ino.path, wlen
		first := (w.off/f.opts.Torn + 1) * f.opts.Torn
		if first < w.off+wlen {
			choices := (w.off+wlen-1-first)/f.opts.Torn + 1
			end := first + f.rand.Int64N(choices)*f.opts.Torn
			if err := f.keepPrefix(w, end); err != nil {
				f.log.Error("keeping the torn write's prefix", "file", w.ino.path, "err", err)
			} else {
				r.TornKept = end - w.off
				r.LostBytes -= r.TornKept
			}
		}
	}
	f.report = r
	f.log.Info("power cut", "lost_bytes", r.LostBytes, "lost_files", r.LostFiles, "torn_file", r.TornFile, "torn_kept", r.TornKept, "torn_of", r.TornOf)
	return r
}

// keepPrefix writes the bytes [w.off, end) of the last write into the
// durable state. The caller holds f.meta.
func (f *FS) keepPrefix(w *lastWrite, end int64) error {
	out, err := os.OpenFile(f.storePath(w.ino.id), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	_, err = out.WriteAt(w.data[:end-w.off], w.off)
	return err
}

// Unmount unmounts the filesystem (retrying while the kernel still holds
// files of processes that just exited) and marks the journal entry done;
// if it cannot, the session's restore aborts the connection and detaches
// the mount.
func (f *FS) Unmount() error {
	var err error
	if f.server != nil {
		if err = f.server.Unmount(); err == nil {
			f.server.Wait()
			f.server = nil
		}
	}
	_, rerr := f.session.RestoreTo(f.mark)
	if rerr != nil {
		return errors.Join(err, rerr)
	}
	f.server = nil
	return nil
}

// Recover rewrites Options.Dir to hold exactly the durable state: the
// directories as of their last fsync (or every change, with
// EagerMetadata), each file with its durable bytes. Call it after Cut and
// Unmount; the FS cannot be used afterwards (Mount again).
func (f *FS) Recover() error {
	if !f.cut.Load() {
		return errors.New("recovering the power-cut filesystem: the power was not cut")
	}
	if f.server != nil {
		return errors.New("recovering the power-cut filesystem: unmount it first")
	}
	ents, err := os.ReadDir(f.opts.Dir)
	if err != nil {
		return fmt.Errorf("reading %s: %w", f.opts.Dir, err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(f.opts.Dir, e.Name())); err != nil {
			return fmt.Errorf("clearing %s: %w", f.opts.Dir, err)
		}
	}
	linked := map[uint64]string{}
	built := map[uint64]bool{}
	var build func(id uint64, dir string, depth int) error
	build = func(id uint64, dir string, depth int) error {
		if depth > 64 || built[id] {
			return nil // a directory reachable twice (an unsynced move): build it once
		}
		built[id] = true
		for name, d := range f.dirs[id] {
			p := filepath.Join(dir, name)
			perm := os.FileMode(d.mode & 0o7777)
			switch d.mode & syscall.S_IFMT {
			case syscall.S_IFDIR:
				if err := os.Mkdir(p, perm); err != nil {
					return err
				}
				if err := build(d.id, p, depth+1); err != nil {
					return err
				}
			case syscall.S_IFLNK:
				if err := os.Symlink(d.link, p); err != nil {
					return err
				}
			case syscall.S_IFREG:
				if first, ok := linked[d.id]; ok {
					if err := os.Link(first, p); err != nil {
						return err
					}
					continue
				}
				linked[d.id] = p
				if _, err := copyFile(p, f.storePath(d.id)); errors.Is(err, os.ErrNotExist) {
					err = os.WriteFile(p, nil, perm) // created, never synced: empty
					if err != nil {
						return err
					}
				} else if err != nil {
					return err
				}
				if err := os.Chmod(p, perm); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := build(f.rootID, f.opts.Dir, 0); err != nil {
		return fmt.Errorf("rebuilding %s from the durable state: %w", f.opts.Dir, err)
	}
	f.log.Info("rebuilt the durable state", "files", len(linked))
	return nil
}

// copyFile copies src to a new file dst (replacing it) and returns the
// bytes copied.
func copyFile(dst, src string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	return n, errors.Join(err, out.Close())
}
