package storage

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/brokerlab/brokerlab/internal/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
)

// smallFilesystem mounts a fresh 16 MiB ext4 filesystem on a loop device
// and returns its mount point; everything is undone in t.Cleanup.
func smallFilesystem(t *testing.T) string {
	t.Helper()
	testutil.RequirePrivileged(t, "a loop device with an ext4 filesystem (losetup, mkfs.ext4, mount)")
	for _, c := range []string{"losetup", "mkfs.ext4", "mount", "umount"} {
		testutil.RequireCommand(t, c, "apt-get install -y util-linux e2fsprogs mount")
	}
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 16<<20); err != nil {
		t.Fatal(err)
	}
	dev := run("losetup", "--find", "--show", img)
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", dev, err, out)
		}
	})
	run("mkfs.ext4", "-q", "-F", "-m", "0", dev)
	mnt := t.TempDir()
	run("mount", "-t", "ext4", dev, mnt)
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}

func TestDiskFull(t *testing.T) {
	mnt := smallFilesystem(t)
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Dirs: []string{filepath.Join(mnt, "logs")}, NodeID: 1, Logger: testLogger(t),
		SegmentBytes: 4 << 20, MaxIndexBytes: 4096}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	p := onePartition(t, s, "full")

	var appended int
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatal("16 MiB filesystem never filled up")
		}
		_, err := p.Append(simple(t, fmt.Sprint(i), 16, 4000), false)
		if err == nil {
			appended++
			continue
		}
		wantKerr(t, err, kerr.KafkaStorageError)
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("append error %v does not wrap ENOSPC", err)
		}
		break
	}
	t.Logf("filesystem full after %d appends", appended)
	checkNoPartialBatch := func(s *Store, p *Partition, want int) {
		t.Helper()
		p.mu.RLock()
		for _, sg := range p.segs {
			fi, err := os.Stat(sg.logPath)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() != sg.size {
				t.Errorf("%s is %d bytes on disk but %d are committed: a partial batch is visible", sg.logPath, fi.Size(), sg.size)
			}
		}
		p.mu.RUnlock()
		if got := len(readAll(t, p, 0)); got != want {
			t.Fatalf("%d batches readable, want %d", got, want)
		}
	}
	checkNoPartialBatch(s, p, appended)
	hwm := p.HighWatermark()

	// Space comes back: appends work again, at the right offset.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	res, err := p.Append(simple(t, "again", 16, 4000), false)
	if err != nil {
		t.Fatalf("append after freeing space: %v", err)
	}
	if res.BaseOffset != hwm {
		t.Fatalf("append after freeing space at %d, want %d", res.BaseOffset, hwm)
	}
	appended++

	// And no partial batch shows up after a crash and restart either.
	s.crash()
	s, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p = s.Partition("full", 0)
	if p.HighWatermark() != hwm+16 {
		t.Fatalf("high watermark %d after restart, want %d", p.HighWatermark(), hwm+16)
	}
	checkNoPartialBatch(s, p, appended)
}
