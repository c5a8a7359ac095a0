package host

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

func requireRefused(t *testing.T, err error, device, reason string) {
	t.Helper()
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want a RefusedError", err)
	}
	if !strings.Contains(err.Error(), device) || !strings.Contains(err.Error(), reason) {
		t.Errorf("error %q should name %s and say %q", err, device, reason)
	}
}

// labLoop creates the file img of size bytes through s and attaches a loop
// device to it, both journaled as the lab's own.
func labLoop(t *testing.T, s *Session, img string, size int64) string {
	t.Helper()
	if err := s.CreateFile(img, size, false); err != nil {
		t.Fatal(err)
	}
	dev, err := s.AttachLoop(img)
	if err != nil {
		t.Fatal(err)
	}
	return dev
}

func rootSource(t *testing.T) string {
	t.Helper()
	mounts, err := readMounts("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		if mounts[i].MountPoint == "/" {
			if strings.HasPrefix(mounts[i].Source, "/dev/") {
				return mounts[i].Source
			}
			break
		}
	}
	testutil.Unavailable(t, "/ is not on a block device here")
	return ""
}

func TestMkfsRefusesDevicesThatAreNotTheLabs(t *testing.T) {
	testutil.RequirePrivileged(t, "loop devices, mkfs and mount")
	testutil.RequireCommand(t, "losetup", "apt-get install mount")
	testutil.RequireCommand(t, "mkfs.ext4", "apt-get install e2fsprogs")
	work := t.TempDir()
	root := rootSource(t)

	// A loop device someone else attached: not created by the lab, not named.
	foreign := filepath.Join(work, "foreign.img")
	if err := os.WriteFile(foreign, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(foreign, 16<<20); err != nil {
		t.Fatal(err)
	}
	foreignDev, err := output("losetup", "--find", "--show", foreign)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = run("losetup", "--detach", foreignDev) })

	s, _, err := Open(Config{StateDir: t.TempDir(), NamedDevices: []string{root}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})

	t.Run("a device not named", func(t *testing.T) {
		requireRefused(t, s.Mkfs(foreignDev, "ext4", nil), foreignDev, "not named")
	})
	t.Run("the root disk even when named", func(t *testing.T) {
		requireRefused(t, s.Mkfs(root, "ext4", nil), root, "root disk")
	})
	t.Run("a mounted device", func(t *testing.T) {
		dev := labLoop(t, s, filepath.Join(work, "lab.img"), 64<<20)
		if err := s.Mkfs(dev, "ext4", []string{"-E", "lazy_itable_init=1"}); err != nil {
			t.Fatalf("mkfs of the lab's own loop device: %v", err)
		}
		mnt := filepath.Join(work, "mnt")
		if err := s.MakeDir(mnt, false); err != nil {
			t.Fatal(err)
		}
		if err := s.Mount(dev, mnt, "ext4", []string{"noatime", "data=writeback"}); err != nil {
			t.Fatal(err)
		}
		requireRefused(t, s.Mkfs(dev, "ext4", nil), dev, "mounted at "+mnt)
	})
	t.Run("a file the lab did not create", func(t *testing.T) {
		_, err := s.AttachLoop(foreign)
		requireRefused(t, err, foreign, "files it created")
	})
	t.Run("an unknown filesystem", func(t *testing.T) {
		if err := s.Mkfs(foreignDev, "ntfs", nil); err == nil || !strings.Contains(err.Error(), "want ext4 or xfs") {
			t.Errorf("err = %v", err)
		}
	})
	undone, err := s.Restore()
	if err != nil {
		t.Fatal(err)
	}
	if len(undone) == 0 {
		t.Error("nothing undone at the end of the cell")
	}
	if devs, _ := loopDevicesOn("/sys", filepath.Join(work, "lab.img")); len(devs) != 0 {
		t.Errorf("loop devices left on the lab's file: %v", devs)
	}
	if devs, _ := loopDevicesOn("/sys", foreign); len(devs) != 1 {
		t.Errorf("the foreign loop device was touched: %v", devs)
	}
}

func TestTmpfsLoopXFSCellIsRestored(t *testing.T) {
	testutil.RequirePrivileged(t, "tmpfs, loop devices, mkfs.xfs and mount")
	testutil.RequireCommand(t, "losetup", "apt-get install mount")
	testutil.RequireCommand(t, "mkfs.xfs", "apt-get install xfsprogs")
	work := t.TempDir()
	s := openSession(t, Config{})
	ram := filepath.Join(work, "ram")
	mnt := filepath.Join(work, "log")
	for _, d := range []string{ram, mnt} {
		if err := s.MakeDir(d, false); err != nil {
			t.Fatal(err)
		}
	}
	// xfsprogs refuses filesystems under 300 MiB; the file is sparse, so
	// tmpfs only holds what mkfs writes.
	if err := s.MountTmpfs(ram, 400<<20); err != nil {
		t.Fatal(err)
	}
	dev := labLoop(t, s, filepath.Join(ram, "disk.img"), 320<<20)
	if err := s.Mkfs(dev, "xfs", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Mount(dev, mnt, "xfs", []string{"noatime", "logbufs=8", "logbsize=256k"}); err != nil {
		t.Fatal(err)
	}
	mounts, _ := readMounts("/proc")
	var opts string
	for _, m := range mounts {
		if m.MountPoint == mnt {
			opts = m.Options
		}
	}
	if !strings.Contains(opts, "noatime") {
		t.Errorf("mount options %q lack noatime", opts)
	}
	if _, err := s.Restore(); err != nil {
		t.Fatal(err)
	}
	after, err := readMounts("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range after {
		if strings.HasPrefix(m.MountPoint, work) {
			t.Errorf("%s still mounted after restore", m.MountPoint)
		}
	}
	if _, err := os.Stat(mnt); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("mount point left: %v", err)
	}
}

func TestZramSwapIsSwitchedOffOnRestore(t *testing.T) {
	testutil.RequirePrivileged(t, "zram, mkswap and swapon")
	testutil.RequireCommand(t, "mkswap", "apt-get install util-linux")
	if _, err := os.Stat("/sys/class/zram-control"); err != nil {
		testutil.Unavailable(t, "zram is not available (modprobe zram): %v", err)
	}
	s := openSession(t, Config{})
	dev, err := s.AddZram(16<<20, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Mkswap(dev); err != nil {
		t.Fatal(err)
	}
	// The lowest priority: other swap areas (another test's) stay preferred.
	if err := s.Swapon(dev, -1); err != nil {
		t.Fatal(err)
	}
	inSwaps := func() bool {
		swaps, err := readSwaps("/proc")
		if err != nil {
			t.Fatal(err)
		}
		for _, sw := range swaps {
			if sw.Filename == dev {
				return true
			}
		}
		return false
	}
	if !inSwaps() {
		t.Fatalf("%s is not in /proc/swaps after Swapon", dev)
	}
	if err := s.Swapon("/dev/vda", 0); err == nil {
		t.Error("Swapon of a device the lab did not create: want a refusal")
	}
	if _, err := s.Restore(); err != nil {
		t.Fatal(err)
	}
	if inSwaps() {
		t.Errorf("%s still in /proc/swaps after restore", dev)
	}
	if _, err := os.Stat("/sys/block/" + filepath.Base(dev)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists after restore: %v", dev, err)
	}
}
