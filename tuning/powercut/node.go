package powercut

import (
	"context"
	"errors"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// node is a loopback node whose namespace changes, file handles and
// directory handles keep the durable state.
type node struct {
	fs.LoopbackNode
	pc *FS
}

// livePath is the node's path in the served directory.
func (n *node) livePath() string {
	return filepath.Join(n.RootData.Path, n.Path(n.RootData.RootNode.EmbeddedInode()))
}

func (n *node) state() *inode {
	return n.pc.inode(n.StableAttr().Ino, n.IsDir(), n.livePath())
}

// changed makes the directories of a namespace change durable at once in
// EagerMetadata mode.
func (n *node) changed(dirs ...*node) {
	if !n.pc.opts.EagerMetadata {
		return
	}
	for _, d := range dirs {
		p := d.livePath()
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			continue // the directory itself is gone: its parent's entry says so
		}
		if err := n.pc.snapshotDir(p); err != nil {
			n.pc.log.Error("persisting a directory change", "err", err)
		}
	}
}

// created gives a new child a fresh identity.
func (n *node) created(ch *fs.Inode, name string) {
	n.pc.assign(ch.StableAttr().Ino, ch.IsDir(), filepath.Join(n.livePath(), name))
	n.changed(n)
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	done, errno := n.pc.enter()
	if errno != 0 {
		return nil, nil, 0, errno
	}
	defer done()
	ch, fh, fl, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if errno != 0 {
		return ch, fh, fl, errno
	}
	n.created(ch, name)
	return ch, n.pc.wrap(fh, ch, flags), fl, 0
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	done, errno := n.pc.enter()
	if errno != 0 {
		return nil, 0, errno
	}
	defer done()
	fh, fl, errno := n.LoopbackNode.Open(ctx, flags)
	if errno != 0 {
		return fh, fl, errno
	}
	if flags&syscall.O_TRUNC != 0 && flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		ino := n.state()
		ino.mu.Lock()
		err := n.pc.truncated(ino, 0)
		ino.mu.Unlock()
		if err != nil {
			n.pc.log.Error("recording a truncate at open", "err", err)
		}
	}
	return n.pc.wrap(fh, n.EmbeddedInode(), flags), fl, 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.entryOp(func() (*fs.Inode, syscall.Errno) { return n.LoopbackNode.Mkdir(ctx, name, mode, out) }, func(ch *fs.Inode) {
		n.created(ch, name)
		n.changed(ch.Operations().(*node)) // the new directory, empty
	})
}

func (n *node) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EPERM // devices, fifos and sockets have no place in a log dir
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.entryOp(func() (*fs.Inode, syscall.Errno) { return n.LoopbackNode.Symlink(ctx, target, name, out) }, func(ch *fs.Inode) {
		n.created(ch, name)
	})
}

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.entryOp(func() (*fs.Inode, syscall.Errno) { return n.LoopbackNode.Link(ctx, target, name, out) }, func(*fs.Inode) {
		n.changed(n) // the same inode, a new name: no new identity
	})
}

// entryOp runs a change that adds a directory entry with an inode (mkdir,
// symlink, link) while the filesystem is up, and hands the entry's inode to
// record when it succeeds.
func (n *node) entryOp(op func() (*fs.Inode, syscall.Errno), record func(ch *fs.Inode)) (*fs.Inode, syscall.Errno) {
	done, errno := n.pc.enter()
	if errno != 0 {
		return nil, errno
	}
	defer done()
	ch, errno := op()
	if errno == 0 {
		record(ch)
	}
	return ch, errno
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return n.dirOp(func() syscall.Errno { return n.LoopbackNode.Unlink(ctx, name) }, n)
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.dirOp(func() syscall.Errno { return n.LoopbackNode.Rmdir(ctx, name) }, n)
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	dirs := []*node{n}
	if np, ok := newParent.(*node); ok && np != n {
		dirs = append(dirs, np)
	}
	return n.dirOp(func() syscall.Errno { return n.LoopbackNode.Rename(ctx, name, newParent, newName, flags) }, dirs...)
}

// dirOp runs a change to directory entries that creates no inode (unlink,
// rmdir, rename) while the filesystem is up, and records the changed
// directories when it succeeds.
func (n *node) dirOp(op func() syscall.Errno, dirs ...*node) syscall.Errno {
	done, errno := n.pc.enter()
	if errno != 0 {
		return errno
	}
	defer done()
	if errno := op(); errno != 0 {
		return errno
	}
	n.changed(dirs...)
	return 0
}

// Tmpfile is refused: an O_TMPFILE file has no name to make durable.
func (n *node) Tmpfile(ctx context.Context, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EOPNOTSUPP
}

// CopyFileRange is refused with ENOSYS, so the kernel copies through READ
// and WRITE, which this layer sees.
func (n *node) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode, fhOut fs.FileHandle, offOut uint64, length uint64, flags uint64) (uint32, syscall.Errno) {
	n.pc.stats.cfr.Add(1)
	return 0, syscall.ENOSYS
}

func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	done, errno := n.pc.enter()
	if errno != 0 {
		return errno
	}
	defer done()
	if h, ok := f.(*handle); ok {
		f = h.lf
	}
	size, resize := in.GetSize()
	if !resize {
		return n.LoopbackNode.Setattr(ctx, f, in, out)
	}
	ino := n.state()
	ino.mu.Lock()
	defer ino.mu.Unlock()
	if errno := n.LoopbackNode.Setattr(ctx, f, in, out); errno != 0 {
		return errno
	}
	if err := n.pc.truncated(ino, int64(size)); err != nil {
		n.pc.log.Error("recording a truncate", "file", ino.path, "err", err)
		return syscall.EIO
	}
	return 0
}

func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if h, ok := f.(*handle); ok {
		f = h.lf
	}
	return n.LoopbackNode.Getattr(ctx, f, out)
}

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fl, errno := n.LoopbackNode.OpendirHandle(ctx, flags)
	if errno != 0 {
		return fh, fl, errno
	}
	return &dirHandle{ds: fh, n: n}, fl, 0
}

// dirHandle is a directory handle whose fsync makes the directory durable.
type dirHandle struct {
	ds fs.FileHandle
	n  *node
}

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	return d.ds.(fs.FileReaddirenter).Readdirent(ctx)
}

func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	return d.ds.(fs.FileSeekdirer).Seekdir(ctx, off)
}

func (d *dirHandle) Releasedir(ctx context.Context, flags uint32) {
	d.ds.(fs.FileReleasedirer).Releasedir(ctx, flags)
}

func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	done, errno := d.n.pc.enter()
	if errno != 0 {
		return errno
	}
	defer done()
	d.n.pc.stats.fsyncdirs.Add(1)
	if err := d.n.pc.snapshotDir(d.n.livePath()); err != nil {
		d.n.pc.log.Error("fsyncdir", "err", err)
		return syscall.EIO
	}
	return 0
}

// handle is an open file. It deliberately does not offer FUSE passthrough
// (fs.FilePassthroughFder), which would let the kernel write around it.
type handle struct {
	lf   *fs.LoopbackFile
	pc   *FS
	ino  *inode
	sync bool // opened with O_SYNC or O_DSYNC
}

func (f *FS) wrap(fh fs.FileHandle, ch *fs.Inode, flags uint32) fs.FileHandle {
	lf := fh.(*fs.LoopbackFile)
	n := ch.Operations().(*node)
	return &handle{lf: lf, pc: f, ino: n.state(), sync: flags&(syscall.O_SYNC|syscall.O_DSYNC) != 0}
}

func (h *handle) fd() int {
	fd, _ := h.lf.PassthroughFd() // the descriptor; nothing is registered with the kernel
	return fd
}

func (h *handle) Read(ctx context.Context, buf []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	done, errno := h.pc.enter()
	if errno != 0 {
		return nil, errno
	}
	defer done()
	n, err := unix.Pread(h.fd(), buf, off)
	if err != nil {
		return nil, fs.ToErrno(err)
	}
	return fuse.ReadResultData(buf[:n]), 0
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	return h.Writev(ctx, [][]byte{data}, off)
}

func (h *handle) Writev(ctx context.Context, iov [][]byte, off int64) (uint32, syscall.Errno) {
	done, errno := h.pc.enter()
	if errno != 0 {
		return 0, errno
	}
	defer done()
	ino := h.ino
	ino.mu.Lock()
	defer ino.mu.Unlock()
	n, err := unix.Pwritev(h.fd(), iov, off)
	if n > 0 {
		h.pc.stats.writes.Add(1)
		h.pc.stats.writeBytes.Add(uint64(n))
		ino.dirty = ino.dirty.add(off, off+int64(n))
		h.pc.meta.Lock()
		if h.pc.last == nil {
			h.pc.last = &lastWrite{}
		}
		w := h.pc.last
		if w.ino != ino || w.off+int64(len(w.data)) != off {
			w.ino, w.off, w.data = ino, off, w.data[:0]
		}
		start := len(w.data)
		for _, b := range iov {
			w.data = append(w.data, b...)
		}
		w.data = w.data[:start+n]
		if over := len(w.data) - maxTornWrite; over > 0 {
			w.data = append(w.data[:0], w.data[over:]...)
			w.off += int64(over)
		}
		h.pc.meta.Unlock()
	}
	if err != nil {
		return uint32(n), fs.ToErrno(err)
	}
	if h.sync {
		h.pc.stats.syncWrites.Add(1)
		if err := h.pc.persist(ino, h.fd()); err != nil {
			h.pc.log.Error("O_SYNC write", "file", ino.path, "err", err)
			return 0, syscall.EIO
		}
	}
	return uint32(n), 0
}

func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	done, errno := h.pc.enter()
	if errno != 0 {
		return errno
	}
	defer done()
	if flags&1 != 0 { // FUSE_FSYNC_FDATASYNC
		h.pc.stats.fdatasyncs.Add(1)
	} else {
		h.pc.stats.fsyncs.Add(1)
	}
	h.ino.mu.Lock()
	defer h.ino.mu.Unlock()
	if err := h.pc.persist(h.ino, h.fd()); err != nil {
		h.pc.log.Error("fsync", "file", h.ino.path, "err", err)
		return syscall.EIO
	}
	return 0
}

func (h *handle) Allocate(ctx context.Context, off uint64, size uint64, mode uint32) syscall.Errno {
	done, errno := h.pc.enter()
	if errno != 0 {
		return errno
	}
	defer done()
	const keepSize = unix.FALLOC_FL_KEEP_SIZE
	if mode&^(keepSize|unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_ZERO_RANGE) != 0 {
		return syscall.EOPNOTSUPP // collapse and insert move data: not modelled
	}
	h.pc.stats.allocates.Add(1)
	h.ino.mu.Lock()
	defer h.ino.mu.Unlock()
	var before unix.Stat_t
	if err := unix.Fstat(h.fd(), &before); err != nil {
		return fs.ToErrno(err)
	}
	if errno := h.lf.Allocate(ctx, off, size, mode); errno != 0 {
		return errno
	}
	if mode&(unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_ZERO_RANGE) != 0 {
		h.ino.dirty = h.ino.dirty.add(int64(off), int64(off+size)) // the bytes became zeros
	}
	if mode&keepSize == 0 && int64(off+size) > before.Size && h.pc.opts.EagerMetadata {
		if err := h.pc.truncated(h.ino, int64(off+size)); err != nil {
			return syscall.EIO
		}
	}
	return 0
}

// Flush is close(2) on one descriptor: it makes nothing durable.
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	h.pc.stats.flushes.Add(1)
	return h.lf.Flush(ctx)
}

// Release closes the live file, even after a cut.
func (h *handle) Release(ctx context.Context) syscall.Errno { return h.lf.Release(ctx) }

func (h *handle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	return h.lf.Getattr(ctx, out)
}

func (h *handle) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	return h.lf.Lseek(ctx, off, whence)
}

// newStdLogger routes go-fuse's log.Logger output to slog.
func newStdLogger(l *slog.Logger) *log.Logger {
	return log.New(slogWriter{l}, "", 0)
}

type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(b []byte) (int, error) {
	w.l.Warn("go-fuse", "msg", strings.TrimSpace(string(b)))
	return len(b), nil
}
