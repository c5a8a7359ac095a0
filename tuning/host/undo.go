package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// undo restores one change if it is in place. It returns "undone" or
// "skipped" with a detail, or an error; it never makes a change the entry
// did not make, so it can run any number of times.
func (s *Session) undo(e Entry) (action, detail string, err error) {
	switch e.Kind {
	case KindSysctl:
		return undoWriteBack(e)
	case KindScheduler:
		return undoScheduler(e)
	case KindThrottle:
		return undoThrottle(e)
	case KindFile:
		return undoFile(e)
	case KindDir:
		return s.undoDir(e)
	case KindMount:
		return s.undoMount(e)
	case KindLoop:
		return s.undoLoop(e)
	case KindMkfs:
		return "skipped", e.Undo, nil
	case KindZram:
		return s.undoZram(e)
	case KindSwap:
		return s.undoSwap(e)
	case KindCgroup:
		return undoCgroup(e)
	case KindProcess:
		return undoProcess(s.cfg.ProcRoot, e)
	case KindFuse:
		return s.undoFuse(e)
	}
	return "", "", fmt.Errorf("unknown change kind %q (journal written by a newer lab?)", e.Kind)
}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func undoWriteBack(e Entry) (string, string, error) {
	cur, err := readValue(e.Target)
	if err != nil {
		return "", "", err
	}
	if sameValue(cur, e.Old) {
		return "skipped", fmt.Sprintf("%s is %q already", e.Target, e.Old), nil
	}
	if err := writeValue(e.Target, e.Old); err != nil {
		return "", "", err
	}
	return "undone", fmt.Sprintf("wrote %q (was %q)", e.Old, cur), nil
}

func undoThrottle(e Entry) (string, string, error) {
	if _, err := os.Stat(e.Target); err != nil {
		return "skipped", e.Target + " does not exist (its cgroup is gone)", nil
	}
	if err := writeValue(e.Target, e.Attrs["clear"]); err != nil {
		return "", "", err
	}
	return "undone", "cleared the limit", nil
}

func undoFile(e Entry) (string, string, error) {
	if _, err := os.Lstat(e.Target); errors.Is(err, os.ErrNotExist) {
		return "skipped", e.Target + " does not exist", nil
	}
	if ok, why := sameIdentity(e); !ok {
		return "skipped", e.Target + ": " + why, nil
	}
	err := os.Remove(e.Target)
	if err != nil {
		return "", "", fmt.Errorf("removing %s: %w", e.Target, err)
	}
	return "undone", "removed " + e.Target, nil
}

func (s *Session) undoDir(e Entry) (string, string, error) {
	if _, err := os.Lstat(e.Target); errors.Is(err, os.ErrNotExist) {
		return "skipped", e.Target + " does not exist", nil
	}
	if ok, why := sameIdentity(e); !ok {
		return "skipped", e.Target + ": " + why, nil
	}
	if e.Attrs["remove_all"] == "true" {
		mounts, err := readMounts(s.cfg.ProcRoot)
		if err != nil {
			return "", "", err
		}
		prefix := e.Target + string(filepath.Separator)
		for _, m := range mounts {
			if m.MountPoint == e.Target || strings.HasPrefix(m.MountPoint, prefix) {
				return "", "", fmt.Errorf("not removing %s: %s is mounted in it", e.Target, m.MountPoint)
			}
		}
		if err := os.RemoveAll(e.Target); err != nil {
			return "", "", fmt.Errorf("removing %s: %w", e.Target, err)
		}
		return "undone", "removed " + e.Target + " and its contents", nil
	}
	if err := os.Remove(e.Target); err != nil {
		return "", "", fmt.Errorf("removing directory %s: %w", e.Target, err)
	}
	return "undone", "removed " + e.Target, nil
}

func (s *Session) undoMount(e Entry) (string, string, error) {
	m, mounted, err := s.mountOn(e.Target)
	if err != nil {
		return "", "", err
	}
	if !mounted {
		return "skipped", e.Target + " is not mounted", nil
	}
	if e.New != "" && m.Source != e.New {
		return "skipped", fmt.Sprintf("%s is mounted from %s, not from %s as the lab mounted it; left in place", e.Target, m.Source, e.New), nil
	}
	d, err := unmount(e.Target)
	if err != nil {
		return "", "", err
	}
	return "undone", d, nil
}

func (s *Session) undoLoop(e Entry) (string, string, error) {
	devs, err := loopDevicesOn(s.cfg.SysRoot, e.Target)
	if err != nil {
		return "", "", err
	}
	if len(devs) == 0 {
		return "skipped", "no loop device is attached to " + e.Target, nil
	}
	for _, d := range devs {
		if err := run("losetup", "--detach", d); err != nil {
			return "", "", err
		}
	}
	return "undone", "detached " + strings.Join(devs, ", "), nil
}

func (s *Session) undoSwap(e Entry) (string, string, error) {
	swaps, err := readSwaps(s.cfg.ProcRoot)
	if err != nil {
		return "", "", err
	}
	for _, sw := range swaps {
		if sw.Filename == e.Target {
			if err := run("swapoff", e.Target); err != nil {
				return "", "", err
			}
			return "undone", "swapoff " + e.Target, nil
		}
	}
	return "skipped", e.Target + " is not in use as swap", nil
}
