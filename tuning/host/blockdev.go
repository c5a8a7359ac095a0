package host

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// blockDev is a block device resolved through sysfs.
type blockDev struct {
	path   string // the device node, symlinks resolved ("/dev/vda1")
	majMin string // "254:1"
	sys    string // its sysfs directory, symlinks resolved
	name   string // sysfs name ("vda1")
	disk   string // sysfs directory of the whole disk (itself if not a partition)
}

// resolveBlock resolves a device node to its sysfs entry under sysRoot.
func resolveBlock(sysRoot, dev string) (blockDev, error) {
	real, err := filepath.EvalSymlinks(dev)
	if err != nil {
		return blockDev{}, fmt.Errorf("resolving device %s: %w", dev, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(real, &st); err != nil {
		return blockDev{}, fmt.Errorf("stat device %s: %w", real, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return blockDev{}, fmt.Errorf("%s is not a block device", real)
	}
	mm := fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	return resolveMajMin(sysRoot, real, mm)
}

func resolveMajMin(sysRoot, path, mm string) (blockDev, error) {
	sys, err := filepath.EvalSymlinks(filepath.Join(sysRoot, "dev", "block", mm))
	if err != nil {
		return blockDev{}, fmt.Errorf("finding %s (%s) in sysfs: %w", path, mm, err)
	}
	d := blockDev{path: path, majMin: mm, sys: sys, name: filepath.Base(sys), disk: sys}
	if _, err := os.Stat(filepath.Join(sys, "partition")); err == nil {
		d.disk = filepath.Dir(sys)
	}
	return d, nil
}

// diskNames returns the whole disks under d: its own disk, through
// slaves/ (device mapper, md RAID) the disks those are built on, and with
// followLoops, through loop/backing_file the disk holding each loop
// device's backing file (a loop of a loop of a disk leads to the disk).
// The bool is false when a loop's backing file cannot be placed (deleted,
// or on a filesystem without a block device that is also not the root's).
func (d blockDev) diskNames(sysRoot string, followLoops bool, rootDev uint64) ([]string, bool) {
	seen := map[string]bool{}
	known := true
	var walk func(dir string, depth int)
	walk = func(dir string, depth int) {
		if depth > 8 || seen[filepath.Base(dir)] {
			return
		}
		seen[filepath.Base(dir)] = true
		slaves, _ := os.ReadDir(filepath.Join(dir, "slaves"))
		for _, s := range slaves {
			p, err := filepath.EvalSymlinks(filepath.Join(dir, "slaves", s.Name()))
			if err != nil {
				continue
			}
			if _, err := os.Stat(filepath.Join(p, "partition")); err == nil {
				p = filepath.Dir(p)
			}
			walk(p, depth+1)
		}
		if !followLoops {
			return
		}
		b, err := os.ReadFile(filepath.Join(dir, "loop", "backing_file"))
		if err != nil {
			return // not a loop device (or detached meanwhile)
		}
		file := strings.TrimRight(string(b), "\n")
		var st unix.Stat_t
		if strings.HasSuffix(file, " (deleted)") || unix.Stat(file, &st) != nil {
			known = false
			return
		}
		if st.Dev == rootDev {
			seen[rootMarker] = true
			return
		}
		mm := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
		under, err := resolveMajMin(sysRoot, file, mm)
		if err != nil {
			return // tmpfs, overlay and the like: no disk below
		}
		walk(under.disk, depth+1)
	}
	walk(d.disk, 0)
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, known
}

// rootMarker stands in diskNames for "a backing file on the root
// filesystem" when that filesystem's st_dev names no block device (btrfs).
const rootMarker = "(root filesystem)"

// parts returns the device itself and, for a whole disk, its partitions,
// as sysfs name -> "major:minor".
func (d blockDev) parts() map[string]string {
	out := map[string]string{d.name: d.majMin}
	if d.disk != d.sys {
		return out
	}
	ents, _ := os.ReadDir(d.sys)
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(d.sys, e.Name(), "partition")); err != nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(d.sys, e.Name(), "dev")); err == nil {
			out[e.Name()] = strings.TrimSpace(string(b))
		}
	}
	return out
}

// CheckDevice says whether the lab may format or mount dev: it must be a
// block device that this session created (a loop device on its own file, a
// zram disk) or that the user named in Config.NamedDevices, and it must not
// be (on) the root disk, mounted, used as swap or held by another device.
// The error is a *RefusedError that names the device and the reason.
func (s *Session) CheckDevice(dev string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkDevice(dev)
}

func (s *Session) checkDevice(dev string) error {
	refuse := func(format string, args ...any) error {
		return &RefusedError{Device: dev, Reason: fmt.Sprintf(format, args...)}
	}
	d, err := resolveBlock(s.cfg.SysRoot, dev)
	if err != nil {
		return refuse("%v", err)
	}
	if !s.created[d.path] && !s.named[d.path] {
		return refuse("the lab did not create it and it was not named explicitly; "+
			"to use a spare disk, name it (lab -device %s) after checking it holds nothing you need", dev)
	}
	root, rootDev, err := s.rootDevice()
	if err != nil {
		return refuse("cannot tell whether it is the root disk: %v", err)
	}
	// A loop device the lab attached to its own file is the lab's even
	// though the file lies on the root disk; a named one is followed down
	// to the disk its backing file is on.
	below, known := d.diskNames(s.cfg.SysRoot, !s.created[d.path], rootDev)
	if !known {
		return refuse("it is a loop device whose backing file cannot be found (deleted?), so the disk below it is unknown")
	}
	if slices.Contains(below, rootMarker) {
		return refuse("it is a loop device backed by a file on the root filesystem (the disk that holds /); the lab never formats the root disk")
	}
	rootDisks, _ := root.diskNames(s.cfg.SysRoot, true, rootDev)
	for _, rd := range rootDisks {
		if slices.Contains(below, rd) {
			if filepath.Base(d.disk) != rd {
				return refuse("it is built on the root disk %s (through a loop device's backing file or a device-mapper/md parent); the lab never formats the root disk", rd)
			}
			return refuse("it is on the root disk %s (the disk that holds /); the lab never formats the root disk", rd)
		}
	}
	mounts, err := readMounts(s.cfg.ProcRoot)
	if err != nil {
		return refuse("cannot check mounts: %v", err)
	}
	parts := d.parts()
	for _, m := range mounts {
		for name, mm := range parts {
			if m.MajorMinor == mm || m.Source == "/dev/"+name {
				return refuse("%s is mounted at %s (%s); unmount it first if it really is a spare disk", "/dev/"+name, m.MountPoint, m.FSType)
			}
		}
	}
	swaps, err := readSwaps(s.cfg.ProcRoot)
	if err != nil {
		return refuse("cannot check swap areas: %v", err)
	}
	for _, sw := range swaps {
		for name := range parts {
			if sw.Filename == "/dev/"+name || sw.Filename == d.path {
				return refuse("%s is in use as swap; swapoff it first if it really is a spare disk", sw.Filename)
			}
		}
	}
	for name := range parts {
		holders, _ := os.ReadDir(filepath.Join(filepath.Dir(d.sys), name, "holders"))
		if name == d.name {
			holders, _ = os.ReadDir(filepath.Join(d.sys, "holders"))
		}
		if len(holders) > 0 {
			return refuse("/dev/%s is held by %s (device mapper, LVM, RAID or dm-crypt)", name, holders[0].Name())
		}
	}
	return nil
}

// rootDevice resolves the block device that holds "/" (from its st_dev, or
// from mountinfo's source when st_dev is anonymous, as on btrfs), and
// returns that st_dev too.
func (s *Session) rootDevice() (blockDev, uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(s.cfg.RootDir, &st); err != nil {
		return blockDev{}, 0, fmt.Errorf("stat %s: %w", s.cfg.RootDir, err)
	}
	mm := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	d, err := resolveMajMin(s.cfg.SysRoot, s.cfg.RootDir, mm)
	if err == nil {
		return d, st.Dev, nil
	}
	mounts, merr := readMounts(s.cfg.ProcRoot)
	if merr != nil {
		return blockDev{}, 0, errors.Join(err, merr)
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		if mounts[i].MountPoint == "/" && strings.HasPrefix(mounts[i].Source, "/dev/") {
			d, err := resolveBlock(s.cfg.SysRoot, mounts[i].Source)
			return d, st.Dev, err
		}
	}
	return blockDev{}, 0, err
}
