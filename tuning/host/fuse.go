package host

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// MountFUSE journals a FUSE mount on dir, served by this process, before
// mount makes it. source is the mount's source name (go-fuse's FsName):
// the undo touches only a FUSE mount on dir with that source. A FUSE
// server that exits without unmounting leaves a mount on which every
// access hangs while the server is stuck or stopped; the undo (at
// Restore, Close, or the next Open after a crash) aborts the connection
// (/sys/fs/fuse/connections/N/abort where the control filesystem is
// mounted, and umount's MNT_FORCE) and detaches the mount lazily. Unmount it normally first when the server is
// alive; the undo then finds nothing to do.
func (s *Session) MountFUSE(dir, source string, mount func() error) error {
	dir = filepath.Clean(dir)
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("mounting FUSE on %s: want an absolute path", dir)
	}
	if source == "" {
		return fmt.Errorf("mounting FUSE on %s: want a source name to recognise the mount by", dir)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("mounting FUSE on %s: mount point is not a directory (create it first)", dir)
	}
	if _, err := s.record(Entry{Kind: KindFuse, Target: dir, New: source,
		Undo: "abort the FUSE connection of the " + source + " mount on " + dir + " and detach it"}); err != nil {
		return err
	}
	return mount()
}

func (s *Session) undoFuse(e Entry) (string, string, error) {
	m, mounted, err := s.mountOn(e.Target)
	if err != nil {
		return "", "", err
	}
	if !mounted {
		return "skipped", e.Target + " is not mounted", nil
	}
	if m.Source != e.New || m.FSType != "fuse" && !strings.HasPrefix(m.FSType, "fuse.") {
		return "skipped", fmt.Sprintf("%s is a %s mount from %s, not the lab's FUSE mount from %s; left in place", e.Target, m.FSType, m.Source, e.New), nil
	}
	// Abort the connection first, so nothing waits on a server that is
	// stopped or stuck: through the FUSE control filesystem when it is
	// mounted (the connection's number is the minor of the mount's
	// anonymous device, Documentation/filesystems/fuse.rst), and in any
	// case with MNT_FORCE, whose umount_begin aborts a FUSE connection.
	var detail []string
	if _, minor, ok := strings.Cut(m.MajorMinor, ":"); ok {
		abort := filepath.Join(s.cfg.SysRoot, "fs", "fuse", "connections", minor, "abort")
		if err := os.WriteFile(abort, []byte("1"), 0o200); err == nil {
			detail = append(detail, "aborted FUSE connection "+minor)
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", "", fmt.Errorf("aborting FUSE connection %s of %s: %w", minor, e.Target, err)
		}
	}
	if err := unix.Unmount(e.Target, unix.MNT_FORCE|unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		return "", "", fmt.Errorf("force-detaching %s: %w", e.Target, err)
	}
	detail = append(detail, "forced the connection closed and detached "+e.Target)
	return "undone", strings.Join(detail, "; "), nil
}
