package bpf

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestFsyncCountsAndLatencyMatchTheWorkload(t *testing.T) {
	p := newTestProbes(t, Config{Families: []Family{FamilyFsync}})

	f, err := os.Create(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	const n = 40
	before := snapshot(t, p)
	var own time.Duration
	for i := range n {
		buf[0] = byte(i)
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := f.Sync(); err != nil { // fsync(2)
			t.Fatal(err)
		}
		own += time.Since(start)
	}
	// One fdatasync and one sync_file_range, to see each has its own histogram.
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	if err := unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE); err != nil {
		t.Fatal(err)
	}
	w := snapshot(t, p).Delta(before)

	h, ok := w.Histogram(FamilyFsync, "fsync_latency")
	if !ok {
		t.Fatal("no fsync_latency histogram")
	}
	if h.Count != n || w.Value(FamilyFsync, "fsync_calls") != n {
		t.Errorf("fsync count = %d (calls counter %d), want exactly %d", h.Count, w.Value(FamilyFsync, "fsync_calls"), n)
	}
	bpfSum := time.Duration(h.Sum)
	rel := math.Abs(float64(bpfSum-own)) / float64(own)
	t.Logf("fsync: %d calls, bpf latency sum %v, workload's own timing %v (%.2f%% apart), p50<=%v p99<=%v, method %s",
		h.Count, bpfSum, own, 100*rel, time.Duration(h.Quantile(0.5)), time.Duration(h.Quantile(0.99)), h.Method)
	if rel > 0.10 {
		t.Errorf("bpf latency sum %v differs from workload timing %v by %.1f%% (> 10%%)", bpfSum, own, 100*rel)
	}
	if got := w.Value(FamilyFsync, "fdatasync_calls"); got != 1 {
		t.Errorf("fdatasync calls = %d, want 1", got)
	}
	if got := w.Value(FamilyFsync, "sync_file_range_calls"); got != 1 {
		t.Errorf("sync_file_range calls = %d, want 1", got)
	}
	if got := w.Value(FamilyFsync, "block_requests"); got == 0 {
		t.Errorf("no block requests seen for %d fsyncs of 64 KiB writes", n)
	} else {
		bh, _ := w.Histogram(FamilyFsync, "block_rq_latency")
		t.Logf("block: %d requests, %d bytes, mean %v", got, w.Value(FamilyFsync, "block_bytes"), time.Duration(bh.Mean()))
	}
}

func TestBlockLatencyFiltersByDevice(t *testing.T) {
	dir := t.TempDir()
	disk, err := DiskOf("/sys", dir)
	if err != nil {
		t.Skipf("temp dir not on a block device: %v", err)
	}
	p := newTestProbes(t, Config{Families: []Family{FamilyFsync}, Device: disk})
	other := newTestProbes(t, Config{Families: []Family{FamilyFsync}, Device: "7:250"}) // a loop minor nobody uses
	f, err := os.Create(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before, beforeOther := snapshot(t, p), snapshot(t, other)
	for range 5 {
		if _, err := f.Write(make([]byte, 32<<10)); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	w, wOther := snapshot(t, p).Delta(before), snapshot(t, other).Delta(beforeOther)
	if got := w.Value(FamilyFsync, "block_requests"); got == 0 {
		t.Errorf("no block requests on %s after 5 fsyncs", disk)
	}
	if got := wOther.Value(FamilyFsync, "block_requests"); got != 0 {
		t.Errorf("block requests on unused device 7:250 = %d, want 0", got)
	}
}

func TestFsyncOfAnotherProcessIsOutOfScope(t *testing.T) {
	// Scope to PID 1: our own fsyncs must not count.
	p := newTestProbes(t, Config{Families: []Family{FamilyFsync}, PID: 1})
	f, err := os.Create(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before := snapshot(t, p)
	for range 5 {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	w := snapshot(t, p).Delta(before)
	if got := w.Value(FamilyFsync, "fsync_calls"); got != 0 {
		t.Errorf("fsync calls scoped to pid 1 = %d, want 0", got)
	}
}
