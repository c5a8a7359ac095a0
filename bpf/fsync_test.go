package bpf

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestFsyncCountsAndLatencyMatchTheWorkload(t *testing.T) {
	p := newTestProbes(t, Config{Families: []Family{FamilyFsync}})

	f := tempFile(t, "data", 0)
	buf := make([]byte, 64<<10)
	const n = 40
	before := snapshot(t, p)
	var own time.Duration
	calls := make([]time.Duration, 0, n)
	for i := range n {
		buf[0] = byte(i)
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := f.Sync(); err != nil { // fsync(2)
			t.Fatal(err)
		}
		d := time.Since(start)
		own += d
		calls = append(calls, d)
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
	// The kernel's enter-to-exit interval of each call lies inside the
	// interval the caller timed (both on CLOCK_MONOTONIC), so the probe's sum
	// can never exceed the workload's. The caller's timing also holds what
	// the kernel does not see — the Go runtime's syscall entry and exit and a
	// wait for a P or a CPU after it — which on a loaded machine adds
	// milliseconds to a few calls, so the sums are not compared for
	// closeness; the median call is, being immune to a few such stalls.
	if slack := time.Duration(n) * 2 * time.Microsecond; bpfSum > own+slack {
		t.Errorf("bpf latency sum %v exceeds the workload's own timing %v: the probe times more than the calls took", bpfSum, own)
	}
	// The k-th shortest call as the caller saw it is at least the k-th
	// shortest the probe saw, so it is at least the low edge of the bucket
	// holding the probe's median; it is above twice that bucket's high edge
	// only if the probe missed time or half the calls were stalled by more
	// than their own length.
	slices.Sort(calls)
	k := (n + 1) / 2
	lo, hi := rankBucket(h, k)
	if med := calls[k-1]; med < time.Duration(lo) || med > 2*time.Duration(hi) {
		t.Errorf("median fsync as timed by the workload %v, outside the probe's median bucket [%v, %v] (or up to twice its top)", med, time.Duration(lo), time.Duration(hi))
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
	f := tempFile(t, "data", 0)
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

// rankBucket returns the bounds of the bucket holding the k-th smallest
// value (1-based) of h.
func rankBucket(h Histogram, k int) (lo, hi uint64) {
	var cum uint64
	for _, b := range h.Buckets {
		cum += b.Count
		if cum >= uint64(k) && b.Count > 0 {
			return b.Low, b.High
		}
	}
	last := h.Buckets[len(h.Buckets)-1]
	return last.Low, last.High
}
