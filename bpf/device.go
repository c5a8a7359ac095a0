package bpf

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// DiskOf returns "MAJOR:MINOR" of the whole disk that holds path (the
// partition's parent when the filesystem sits on a partition), for
// Config.Device. sysRoot is normally "/sys".
func DiskOf(sysRoot, path string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "", fmt.Errorf("finding the disk of %s: %w", path, err)
	}
	dev := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	sys := filepath.Join(sysRoot, "dev", "block", dev)
	if _, err := os.Stat(filepath.Join(sys, "partition")); err != nil {
		if _, err := os.Stat(sys); err != nil {
			return "", fmt.Errorf("finding the disk of %s: device %s is not a block device (%w)", path, dev, err)
		}
		return dev, nil
	}
	// A partition: its parent directory in sysfs is the disk.
	real, err := filepath.EvalSymlinks(sys)
	if err != nil {
		return "", fmt.Errorf("finding the disk of %s: %w", path, err)
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(real), "dev"))
	if err != nil {
		return "", fmt.Errorf("finding the disk of %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}
