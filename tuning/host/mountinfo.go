package host

import (
	"fmt"
	"path/filepath"

	"github.com/brokerlab/brokerlab/procsample"
)

// Mount is one line of /proc/self/mountinfo, read by the lab's one /proc
// reader (procsample).
type Mount = procsample.Mount

// Swap is one line of /proc/swaps.
type Swap = procsample.Swap

func readMounts(procRoot string) ([]Mount, error) { return procsample.ReadMounts(procRoot) }
func readSwaps(procRoot string) ([]Swap, error)   { return procsample.ReadSwaps(procRoot) }

// topMount returns the last (topmost) mount on dir, and whether dir is a
// mount point in mounts at all.
func topMount(mounts []Mount, dir string) (Mount, bool) {
	dir = filepath.Clean(dir)
	var top Mount
	found := false
	for _, m := range mounts {
		if m.MountPoint == dir {
			top, found = m, true
		}
	}
	return top, found
}

// mountOn reads the mount table and returns the topmost mount on dir, and
// whether dir is a mount point.
func (s *Session) mountOn(dir string) (Mount, bool, error) {
	mounts, err := readMounts(s.cfg.ProcRoot)
	if err != nil {
		return Mount{}, false, err
	}
	m, ok := topMount(mounts, dir)
	return m, ok, nil
}

// FilesystemOf names the filesystem dir is on ("ext4 (/dev/vda1 on /)"),
// from /proc/self/mountinfo: the mount with the longest mount point that
// contains dir. It returns "unknown filesystem" when mountinfo is
// unreadable.
func FilesystemOf(dir string) string {
	mounts, err := readMounts("/proc")
	if err != nil {
		return "unknown filesystem"
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	return filesystemOf(mounts, dir)
}

func filesystemOf(mounts []Mount, dir string) string {
	best, ok := procsample.MountContaining(mounts, dir, "")
	if !ok {
		return "unknown filesystem"
	}
	return fmt.Sprintf("%s (%s on %s)", best.FSType, best.Source, best.MountPoint)
}
