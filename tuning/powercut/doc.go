// Package powercut is a FUSE filesystem for durability experiments: it
// serves a real directory and keeps, beside it, the state a disk would hold
// if the power went out now. It is slow on purpose (every write and fsync
// goes through this process, and an fsync copies the bytes it makes
// durable); never use it to measure speed.
//
// # The model
//
// The directory it serves (Options.Dir) is what the page cache shows: every
// read sees every write at once. What would survive a power cut is kept
// apart, in Options.StateDir and in memory:
//
//   - File data becomes durable at fsync or fdatasync of the file (FUSE
//     FSYNC, with or without the datasync flag), or at a write through a
//     descriptor opened with O_SYNC or O_DSYNC. A size change (truncate,
//     fallocate) becomes durable with the file's next fsync, or at once
//     with Options.EagerMetadata.
//   - A directory's entries (create, mkdir, unlink, rmdir, rename, link,
//     symlink) become durable when that directory is fsynced (FUSE
//     FSYNCDIR): the durable directory is a snapshot of the live one at its
//     last fsync. A rename between directories needs both fsynced. With
//     Options.EagerMetadata every directory change is durable at once, so a
//     run can tell data loss from metadata loss.
//   - Nothing else makes anything durable: close (FUSE FLUSH),
//     sync_file_range, syncfs(2) and sync(2) do not. sync_file_range never
//     reaches a FUSE server: the kernel only writes back the mount's own
//     dirty pages, and there are none, since writes go through to this
//     process as they happen. syncfs and sync return success without a
//     request this server sees (measured on Linux 6.18), so here they make
//     nothing durable, unlike on a disk filesystem; the broker uses neither.
//
// FS.Cut is the power cut: from that moment every operation fails with EIO,
// and what was not durable is gone. With Options.Torn the last write not yet
// durable keeps a prefix, cut at a multiple of Torn bytes (512 for a sector,
// 4096 for a page), as a disk that lost power mid-write would. After the
// processes using the mount are gone, FS.Unmount and then FS.Recover rewrite
// Options.Dir to hold exactly the durable state; a program restarted on it
// sees what it would after the power came back.
//
// # FUSE details that matter here
//
// An O_SYNC or O_DSYNC descriptor reaches the server twice: the flag comes
// with FUSE OPEN, and after each write the kernel sends FSYNC (with the
// datasync flag for O_DSYNC), measured on Linux 6.18. FLUSH comes at every
// close(2) and makes nothing durable.
//
// The mount uses no writeback cache, so every write(2) reaches the server
// before it returns (the kernel may still serve reads from its page cache,
// which always matches what was written). File handles do not offer FUSE
// passthrough: a go-fuse LoopbackFile does, and as root the kernel then
// sends reads and writes straight to the backing file, around this layer
// (measured on Linux 6.18: a loopback mount whose handles embed
// LoopbackFile saw 0 of 10 write(2) calls). copy_file_range is refused (ENOSYS) so the kernel falls back to
// reads and writes this layer sees; O_TMPFILE is refused. sendfile(2) from
// a file on the mount works (the kernel splices from its page cache).
//
// The mount is a host change: Mount journals it through a host.Session
// (kind "fuse"), and the session's undo aborts the FUSE connection and
// detaches the mount if this process dies without unmounting.
package powercut
