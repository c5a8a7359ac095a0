package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// attachForeign attaches a loop device to file outside any Session, as
// someone else's tooling would, and detaches it at the end of the test.
func attachForeign(t *testing.T, file string, size int64) string {
	t.Helper()
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(file, size); err != nil {
		t.Fatal(err)
	}
	dev, err := output("losetup", "--find", "--show", file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = run("losetup", "--detach", dev) })
	return dev
}

// A loop device named with -device is followed down to the disk its
// backing file lives on: a loop on a file of the root filesystem, or a loop
// on a file inside a filesystem on such a loop, is the root disk too.
func TestNamedLoopDevicesOnTheRootDiskAreRefused(t *testing.T) {
	testutil.RequirePrivileged(t, "loop devices, tmpfs, mkfs and mount")
	testutil.RequireCommand(t, "losetup", "apt-get install mount")
	testutil.RequireCommand(t, "mkfs.ext4", "apt-get install e2fsprogs")
	rootSource(t)
	var st unix.Stat_t
	work, err := os.MkdirTemp("/var/tmp", "brokerlab-loopsafety-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	if err := unix.Stat(work, &st); err != nil {
		t.Fatal(err)
	}
	var rootSt unix.Stat_t
	if err := unix.Stat("/", &rootSt); err != nil || rootSt.Dev != st.Dev {
		testutil.Unavailable(t, "/var/tmp is not on the root filesystem here")
	}

	onRoot := attachForeign(t, filepath.Join(work, "on-root.img"), 64<<20)

	// A loop of a loop: ext4 on onRoot, a file in it, a loop on that file.
	if err := run("mkfs.ext4", "-F", "-q", onRoot); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(work, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(onRoot, mnt, "ext4", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) })
	nested := attachForeign(t, filepath.Join(mnt, "nested.img"), 16<<20)

	// A loop on a file in a tmpfs: no disk below, so it may be used.
	ram := filepath.Join(work, "ram")
	if err := os.Mkdir(ram, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", ram, "tmpfs", 0, "size=32m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(ram, unix.MNT_DETACH) })
	inRAM := attachForeign(t, filepath.Join(ram, "ram.img"), 16<<20)

	s := openSession(t, Config{NamedDevices: []string{onRoot, nested, inRAM}})

	t.Run("a loop on a file of the root filesystem", func(t *testing.T) {
		// onRoot is mounted as well; the root disk is checked first.
		requireRefused(t, s.CheckDevice(onRoot), onRoot, "root filesystem")
	})
	t.Run("a loop of a loop of the root disk", func(t *testing.T) {
		requireRefused(t, s.CheckDevice(nested), nested, "root filesystem")
	})
	t.Run("a loop on tmpfs", func(t *testing.T) {
		if err := s.CheckDevice(inRAM); err != nil {
			t.Errorf("CheckDevice(%s) = %v; a loop on a tmpfs file is not on any disk", inRAM, err)
		}
	})
	t.Run("the lab's own loop on a file of the root filesystem", func(t *testing.T) {
		dev := labLoop(t, s, filepath.Join(work, "lab.img"), 16<<20)
		if err := s.CheckDevice(dev); err != nil {
			t.Errorf("CheckDevice(%s) = %v; the lab's own loop file is its scratch disk", dev, err)
		}
	})
}

func TestAttachLoopDirectIO(t *testing.T) {
	testutil.RequirePrivileged(t, "loop devices")
	testutil.RequireCommand(t, "losetup", "apt-get install mount")
	img := filepath.Join(t.TempDir(), "dio.img") // removed after the session closes
	s := openSession(t, Config{})
	if err := s.CreateFile(img, 16<<20, false); err != nil {
		t.Fatal(err)
	}
	dev, err := s.AttachLoopDirectIO(img)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(dev), "loop", "dio"))
	if err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Errorf("%s loop/dio = %q, %v; want 1", dev, b, err)
	}
}
