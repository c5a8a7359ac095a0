package host

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// CreateFile journals and creates a new file of size bytes (it must not
// exist). With preallocate its blocks are allocated now (fallocate), so a
// loop device on it does not pay for block allocation during a run; on
// tmpfs that takes the memory at once.
func (s *Session) CreateFile(path string, size int64, preallocate bool) error {
	path = filepath.Clean(path)
	if !filepath.IsAbs(path) {
		return fmt.Errorf("creating file %s: want an absolute path", path)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("creating file %s: it exists already; the lab only uses files it created", path)
	}
	e, err := s.record(Entry{Kind: KindFile, Target: path, New: strconv.FormatInt(size, 10),
		Undo: "remove " + path + " if it is still the file the lab made"})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("creating file %s: %w", path, err)
	}
	defer f.Close()
	if err := s.recordIdentity(&e); err != nil {
		return err
	}
	if preallocate {
		if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
			return fmt.Errorf("allocating %d bytes for %s: %w", size, path, err)
		}
	} else if err := f.Truncate(size); err != nil {
		return fmt.Errorf("sizing %s to %d bytes: %w", path, size, err)
	}
	return f.Close()
}

// MakeDir journals and creates a directory whose parent exists; if it
// exists already nothing is journaled. With removeAll the undo removes it
// with its contents (for scratch directories the lab fills, such as a log
// dir on the root disk), otherwise only if empty.
func (s *Session) MakeDir(path string, removeAll bool) error {
	path = filepath.Clean(path)
	if !filepath.IsAbs(path) {
		return fmt.Errorf("creating directory %s: want an absolute path", path)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if fi, err := os.Stat(path); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("creating directory %s: a file of that name exists", path)
		}
		return nil
	}
	attrs := map[string]string{}
	undo := "remove the directory " + path + " if empty"
	if removeAll {
		attrs["remove_all"] = "true"
		undo = "remove " + path + " and its contents (unless something is mounted in it)"
	}
	e, err := s.record(Entry{Kind: KindDir, Target: path, Attrs: attrs, Undo: undo})
	if err != nil {
		return err
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		return fmt.Errorf("creating directory %s: %w", path, err)
	}
	return s.recordIdentity(&e)
}

// recordIdentity journals the device and inode of the file or directory
// change e just created, so a restore removes only that one.
func (s *Session) recordIdentity(e *Entry) error {
	id, err := identity(e.Target)
	if err != nil {
		return fmt.Errorf("stat %s: %w", e.Target, err)
	}
	return s.update(e, "", "", map[string]string{"identity": id})
}

// Filesystems the lab can make.
var mkfsCommands = map[string][]string{
	"ext4": {"mkfs.ext4", "-F", "-q"},
	"xfs":  {"mkfs.xfs", "-f", "-q"},
}

// Mkfs makes a filesystem (ext4 or xfs) on dev with extra mkfs options (for
// example "-b", "4096" or "-l", "size=64m"). dev must pass CheckDevice.
func (s *Session) Mkfs(dev, fstype string, options []string) error {
	base, ok := mkfsCommands[fstype]
	if !ok {
		return fmt.Errorf("mkfs %s on %s: unsupported filesystem; want ext4 or xfs", fstype, dev)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkDevice(dev); err != nil {
		return err
	}
	args := append(append(append([]string{}, base[1:]...), options...), dev)
	if _, err := s.record(Entry{Kind: KindMkfs, Target: dev, New: fstype,
		Attrs: map[string]string{"command": base[0] + " " + strings.Join(args, " ")},
		Undo:  "nothing to undo: the device is the lab's own loop file or zram disk (removed by its own entry) or a spare disk the user named"}); err != nil {
		return err
	}
	return run(base[0], args...)
}

// Mount journals and mounts dev (which must pass CheckDevice) on dir with
// the given options ("noatime", "data=writeback", "logbufs=8",
// "logbsize=256k").
func (s *Session) Mount(dev, dir, fstype string, options []string) error {
	dir = filepath.Clean(dir)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkDevice(dev); err != nil {
		return err
	}
	return s.mountLocked(dev, dir, fstype, options)
}

// MountTmpfs journals and mounts a tmpfs of size bytes on dir.
func (s *Session) MountTmpfs(dir string, size int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mountLocked("tmpfs", filepath.Clean(dir), "tmpfs", []string{"size=" + strconv.FormatInt(size, 10), "mode=0700"})
}

func (s *Session) mountLocked(source, dir, fstype string, options []string) error {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("mounting %s on %s: mount point is not a directory (create it first)", source, dir)
	}
	if _, err := s.record(Entry{Kind: KindMount, Target: dir, New: source,
		Attrs: map[string]string{"fstype": fstype, "options": strings.Join(options, ",")},
		Undo:  "umount " + dir}); err != nil {
		return err
	}
	args := []string{"-t", fstype}
	if len(options) > 0 {
		args = append(args, "-o", strings.Join(options, ","))
	}
	return run("mount", append(args, source, dir)...)
}

// run runs a command and folds its output into the error.
func run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("running %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// output runs a command and returns its trimmed stdout.
func output(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("running %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(string(b)), nil
}

// unmount unmounts dir, retrying while it is busy (a process that had
// files open on it may still be exiting), then detaching lazily.
func unmount(dir string) (string, error) {
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := unix.Unmount(dir, 0)
		if err == nil {
			return "unmounted " + dir, nil
		}
		if !errors.Is(err, unix.EBUSY) {
			return "", fmt.Errorf("unmounting %s: %w", dir, err)
		}
		if time.Now().After(deadline) {
			if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
				return "", fmt.Errorf("unmounting %s lazily: %w", dir, err)
			}
			return "detached " + dir + " lazily (it was busy)", nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}
