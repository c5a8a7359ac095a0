package host

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// UserStateBase is the private directory, below the user's own state
// directory, that holds a lab run's journal and work files when it does not
// run as root: $XDG_STATE_HOME/brokerlab, or brokerlab under
// os.UserCacheDir (~/.cache). Never a predictable path in a shared
// directory such as /tmp, where another user could plant it first.
func UserStateBase() (string, error) {
	if x := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "brokerlab"), nil
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding a private state directory: %w (set $%s or $XDG_STATE_HOME)", err, StateDirEnv)
	}
	return filepath.Join(c, "brokerlab"), nil
}

// defaultStateDir is DefaultStateDir for root and the journal directory
// under UserStateBase for everyone else.
func defaultStateDir() string {
	if os.Geteuid() == 0 {
		return DefaultStateDir
	}
	base, err := UserStateBase()
	if err != nil {
		return "" // Validate names the fix
	}
	return filepath.Join(base, "journal")
}

// MakePrivateDir creates dir (and its missing parents) with mode 0700 and
// checks what it got without following a symlink at dir itself: a
// directory owned by the effective user, writable by nobody else. A
// directory that is not, or a symlink planted in its place, is refused, so
// another local user cannot hand the lab a journal or a work directory. A
// private directory that is only readable by others is narrowed to 0700.
func MakePrivateDir(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(dir), err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("creating private directory %s: %w", dir, err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening private directory %s (a symlink is refused): %w", dir, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", dir, err)
	}
	if euid := os.Geteuid(); int(st.Uid) != euid {
		return fmt.Errorf("private directory %s belongs to uid %d, not to uid %d running the lab; remove it or choose another (-state or $%s)",
			dir, st.Uid, euid, StateDirEnv)
	}
	if st.Mode&0o022 != 0 {
		return fmt.Errorf("private directory %s is writable by group or others (mode %04o); remove it or chmod 0700 it after checking its contents",
			dir, st.Mode&0o7777)
	}
	if st.Mode&0o077 != 0 {
		if err := unix.Fchmod(fd, 0o700); err != nil {
			return fmt.Errorf("narrowing %s to mode 0700: %w", dir, err)
		}
	}
	return nil
}
