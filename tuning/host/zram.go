package host

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// AddZram journals and creates a zram disk of size bytes (compressed RAM;
// algorithm "" keeps the kernel's default, else e.g. "lz4" or "zstd") and
// returns its device ("/dev/zram1"). It passes CheckDevice, so it can be
// formatted (Mkfs) or made swap (Mkswap, Swapon).
func (s *Session) AddZram(size int64, algorithm string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	control := filepath.Join(s.cfg.SysRoot, "class", "zram-control")
	e, err := s.record(Entry{Kind: KindZram, New: strconv.FormatInt(size, 10),
		Attrs: map[string]string{"control": control},
		Undo:  "reset the zram device and write its number to " + filepath.Join(control, "hot_remove")})
	if err != nil {
		return "", err
	}
	// Reading hot_add creates the device and returns its number; the
	// update that records it follows at once (see DESIGN.md on the window).
	id, err := readValue(filepath.Join(control, "hot_add"))
	if err != nil {
		return "", fmt.Errorf("adding a zram device (is the zram module loaded? modprobe zram): %w", err)
	}
	name := "zram" + id
	dev := "/dev/" + name
	if err := s.update(&e, name, dev, nil); err != nil {
		return "", err
	}
	s.created[dev] = true
	sys := filepath.Join(s.cfg.SysRoot, "block", name)
	if algorithm != "" {
		if err := writeValue(filepath.Join(sys, "comp_algorithm"), algorithm); err != nil {
			return dev, fmt.Errorf("setting %s compression: %w", name, err)
		}
	}
	if err := writeValue(filepath.Join(sys, "disksize"), strconv.FormatInt(size, 10)); err != nil {
		return dev, fmt.Errorf("sizing %s: %w", name, err)
	}
	if err := waitExists(dev, 2*time.Second); err != nil {
		return dev, err
	}
	return dev, nil
}

// waitExists waits for a device node to appear (devtmpfs creates it
// asynchronously).
func waitExists(path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("device %s did not appear within %v", path, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// undoZram resets and removes a zram device the lab added.
func (s *Session) undoZram(e Entry) (string, string, error) {
	if e.Target == "" {
		return "skipped", "the device number was never recorded (hot_add did not happen or the process died right after it); check /sys/block/zram* by hand", nil
	}
	sys := filepath.Join(s.cfg.SysRoot, "block", e.Target)
	if _, err := os.Stat(sys); err != nil {
		return "skipped", e.Target + " does not exist", nil
	}
	dev := "/dev/" + e.Target
	if swaps, err := readSwaps(s.cfg.ProcRoot); err == nil {
		for _, sw := range swaps {
			if sw.Filename == dev {
				if err := run("swapoff", dev); err != nil {
					return "", "", err
				}
			}
		}
	}
	if mounts, err := readMounts(s.cfg.ProcRoot); err == nil {
		for i := len(mounts) - 1; i >= 0; i-- {
			if mounts[i].Source == dev {
				if _, err := unmount(mounts[i].MountPoint); err != nil {
					return "", "", err
				}
			}
		}
	}
	if err := writeValue(filepath.Join(sys, "reset"), "1"); err != nil {
		return "", "", err
	}
	id := e.Target[len("zram"):]
	control := e.Attrs["control"]
	if control == "" {
		control = filepath.Join(s.cfg.SysRoot, "class", "zram-control")
	}
	if err := writeValue(filepath.Join(control, "hot_remove"), id); err != nil {
		return "", "", err
	}
	return "undone", "removed " + dev, nil
}

// Mkswap makes swap on dev, which must pass CheckDevice.
func (s *Session) Mkswap(dev string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkDevice(dev); err != nil {
		return err
	}
	if _, err := s.record(Entry{Kind: KindMkfs, Target: dev, New: "swap",
		Undo: "nothing to undo: the device is the lab's own"}); err != nil {
		return err
	}
	return run("mkswap", dev)
}

// Swapon journals and enables swap on dev (made with Mkswap) with the given
// priority (0..32767); a negative priority lets the kernel assign one below
// every existing swap area, so the area is used only when the others are
// full.
func (s *Session) Swapon(dev string, priority int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.created[dev] && !s.named[dev] {
		return &RefusedError{Device: dev, Reason: "the lab only enables swap on devices it created or the user named"}
	}
	if _, err := s.record(Entry{Kind: KindSwap, Target: dev, Undo: "swapoff " + dev}); err != nil {
		return err
	}
	if priority < 0 {
		return run("swapon", dev)
	}
	return run("swapon", "-p", strconv.Itoa(priority), dev)
}
