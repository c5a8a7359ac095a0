package host

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/sys/unix"
)

// under reports whether path is a clean absolute path strictly below root.
func under(root, path string) bool {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return false
	}
	root = filepath.Clean(root)
	return strings.HasPrefix(path, root+string(filepath.Separator)) || root == "/" && path != "/"
}

// fsIocGetVersion is FS_IOC_GETVERSION, _IOR('v', 1, long) on 64-bit
// Linux (include/uapi/linux/fs.h); x/sys/unix does not define it.
const fsIocGetVersion = 0x80087601

var zramName = regexp.MustCompile(`^zram[0-9]+$`)

// allowed checks, before a journaled change is undone, that the entry only
// names what its kind may touch: a sysctl under /proc/sys, a scheduler or
// zram device under /sys, a cgroup under the cgroup root, a swap device
// under /dev, and otherwise clean absolute paths. Undoing a file, a
// directory, a mount or a loop device additionally checks that it is still
// the one the lab made (inode, mount source, backing file). A journal is
// private to its user (MakePrivateDir), so this is the second fence: a
// damaged or hand-edited journal cannot make a restore write or remove
// something else.
func (s *Session) allowed(e Entry) error {
	bad := func(want string) error {
		return fmt.Errorf("refusing to undo %s: a %s change must name %s", e, e.Kind, want)
	}
	switch e.Kind {
	case KindSysctl:
		if !under(filepath.Join(s.cfg.ProcRoot, "sys"), e.Target) {
			return bad("a file under " + filepath.Join(s.cfg.ProcRoot, "sys"))
		}
	case KindScheduler:
		if !under(s.cfg.SysRoot, e.Target) || filepath.Base(e.Target) != "scheduler" {
			return bad("a queue/scheduler file under " + s.cfg.SysRoot)
		}
	case KindThrottle, KindCgroup:
		if !under(s.cfg.CgroupRoot, e.Target) {
			return bad("a path under " + s.cfg.CgroupRoot)
		}
		if p := e.Attrs["parent"]; p != "" && !under(s.cfg.CgroupRoot, p) && filepath.Clean(p) != filepath.Clean(s.cfg.CgroupRoot) {
			return bad("a parent cgroup under " + s.cfg.CgroupRoot)
		}
	case KindZram:
		if e.Target != "" && !zramName.MatchString(e.Target) {
			return bad("a zram device name such as zram0")
		}
		if c := e.Attrs["control"]; c != "" && !under(s.cfg.SysRoot, c) {
			return bad("a zram-control directory under " + s.cfg.SysRoot)
		}
	case KindSwap:
		if !under("/dev", e.Target) {
			return bad("a device under /dev")
		}
	case KindFile, KindDir, KindMount, KindFuse, KindLoop:
		if !filepath.IsAbs(e.Target) || filepath.Clean(e.Target) != e.Target || e.Target == "/" {
			return bad("a clean absolute path")
		}
	}
	return nil
}

// identity is "dev:ino:generation:birth" of path itself (a symlink is not
// followed). The inode generation (FS_IOC_GETVERSION: ext4, tmpfs, btrfs)
// and the birth time (statx btime) tell a file apart from a later one that
// reused its inode number; where the filesystem keeps neither they read 0.
func identity(path string) (string, error) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_INO|unix.STATX_BTIME, &st); err != nil {
		return "", err
	}
	var gen int
	if fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0); err == nil {
		gen, _ = unix.IoctlGetInt(fd, fsIocGetVersion)
		unix.Close(fd)
	}
	var birth string
	if st.Mask&unix.STATX_BTIME != 0 {
		birth = fmt.Sprintf("%d.%09d", st.Btime.Sec, st.Btime.Nsec)
	}
	return fmt.Sprintf("%d:%d:%d:%s", unix.Mkdev(st.Dev_major, st.Dev_minor), st.Ino, uint32(gen), birth), nil
}

// sameIdentity says whether path is still the file or directory the lab
// made: same device, inode and birth time as recorded at creation, and not a symlink.
// An entry without a recorded identity (the process died between journaling
// and creating) is never matched: the lab cannot prove the path is its own.
func sameIdentity(e Entry) (bool, string) {
	want := e.Attrs["identity"]
	if want == "" {
		return false, "no identity was recorded (the lab died before or while creating it); left in place, check it by hand"
	}
	got, err := identity(e.Target)
	if err != nil {
		return false, fmt.Sprintf("cannot stat it: %v", err)
	}
	if got != want {
		return false, fmt.Sprintf("it is not the one the lab made (device:inode %s, made %s); left in place", got, want)
	}
	return true, ""
}
