package bpf

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// EnsureTracefs mounts tracefs at dir when dir/events does not exist, and
// reports whether it mounted it. Tracepoint programs (tracepoint/GROUP/NAME)
// find their event id through tracefs; tp_btf and raw_tp do not need it.
// Mounting tracefs changes no kernel state (systemd mounts it at boot); the
// mount is left in place so concurrent users are not cut off.
func EnsureTracefs(dir string) (bool, error) {
	if _, err := os.Stat(filepath.Join(dir, "events")); err == nil {
		return false, nil
	}
	if err := unix.Mount("tracefs", dir, "tracefs", 0, ""); err != nil {
		return false, fmt.Errorf("mounting tracefs at %s (mount -t tracefs tracefs %s): %w", dir, dir, err)
	}
	return true, nil
}
