package storage

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// allocated returns the bytes of disk space path holds and its size.
func allocated(tb testing.TB, path string) (disk, size int64) {
	tb.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		tb.Fatal(err)
	}
	return st.Blocks * 512, st.Size
}

// trimmed says whether disk bytes hold size bytes of data and no step of
// preallocated space: the data's blocks, plus less than half the smallest
// step for the filesystem's own (an ext4 extent tree block).
func trimmed(disk, size int64) bool {
	bsize := int64(os.Getpagesize())
	return disk < (size+bsize-1)/bsize*bsize+minPreallocStep/2
}

// requireFallocate skips the test on a filesystem without fallocate(2).
func requireFallocate(tb testing.TB, dir string) {
	tb.Helper()
	f, err := os.CreateTemp(dir, "fallocate")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := fallocate(f, unix.FALLOC_FL_KEEP_SIZE, 0, 4096); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			tb.Skipf("the test directory's filesystem has no fallocate: %v", err)
		}
		tb.Fatal(err)
	}
}

// TestPreallocationGrowsAndIsTrimmed: the active segment holds space ahead
// of its data, in doubling steps, without its size changing; a roll and a
// close give the space beyond the data back.
func TestPreallocationGrowsAndIsTrimmed(t *testing.T) {
	cfg := testConfig(t, 1)
	requireFallocate(t, cfg.Dirs[0])
	cfg.SegmentBytes = 1 << 20
	s := openStore(t, cfg)
	p := onePartition(t, s, "pre")
	path := func(base int64) string { return filepath.Join(p.dir, segmentName(base, logSuffix)) }

	mustAppend(t, p, simple(t, "a", 1, 100))
	disk, size := allocated(t, path(0))
	if disk < minPreallocStep {
		t.Fatalf("after one small append the segment holds %d bytes of disk, want at least the first step, %d", disk, minPreallocStep)
	}
	p.mu.RLock()
	want := p.segs[0].size
	p.mu.RUnlock()
	if size != want {
		t.Fatalf("file size %d with preallocation, want the data's %d", size, want)
	}
	// Past the first step the next one is twice as large.
	for size < minPreallocStep {
		mustAppend(t, p, simple(t, "b", 4, 1000))
		disk, size = allocated(t, path(0))
	}
	if disk < 3*minPreallocStep {
		t.Fatalf("after %d bytes of data the segment holds %d bytes of disk, want the first two steps, %d", size, disk, 3*minPreallocStep)
	}
	// A roll trims the old segment to its data.
	for len(p.Segments()) == 1 {
		mustAppend(t, p, simple(t, "c", 16, 1000))
	}
	disk, size = allocated(t, path(0))
	if !trimmed(disk, size) {
		t.Fatalf("rolled segment holds %d bytes of disk for %d bytes of data", disk, size)
	}
	active := p.Segments()[1]
	if disk, _ := allocated(t, path(active)); disk < minPreallocStep {
		t.Fatalf("new active segment holds %d bytes of disk, want at least %d", disk, minPreallocStep)
	}
	before := readAll(t, p, 0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	disk, size = allocated(t, path(active))
	if !trimmed(disk, size) {
		t.Fatalf("active segment holds %d bytes of disk for %d bytes of data after close", disk, size)
	}
	s = openStore(t, cfg)
	sameBatches(t, readAll(t, s.Partition("pre", 0), 0), before)
}

// TestPreallocationOff: with a negative PreallocateBytes no space is held
// ahead of the data.
func TestPreallocationOff(t *testing.T) {
	cfg := testConfig(t, 1)
	requireFallocate(t, cfg.Dirs[0])
	cfg.PreallocateBytes = -1
	s := openStore(t, cfg)
	p := onePartition(t, s, "off")
	mustAppend(t, p, simple(t, "a", 1, 100))
	disk, size := allocated(t, filepath.Join(p.dir, segmentName(0, logSuffix)))
	if !trimmed(disk, size) {
		t.Fatalf("segment holds %d bytes of disk for %d bytes of data with preallocation off", disk, size)
	}
}

// TestCrashWithPreallocatedZeroTail: a power cut that leaves the file's
// size covering preallocated space (or a batch) whose data never reached
// the disk shows a zero-filled tail; recovery ends the log where the zeros
// start and keeps exactly the batches written before, as no damage. Zeros
// with data after them are damage, cut as a torn tail.
func TestCrashWithPreallocatedZeroTail(t *testing.T) {
	tests := []struct {
		name string
		// damage edits the last segment (its data ends at size, the
		// last batch starts at last) and returns how many batches stay
		// and whether the recovery must count the cut as torn.
		damage func(tb testing.TB, f *os.File, size, last int64, n int) (keep int, torn bool)
	}{
		{"the size covers the preallocated space", func(tb testing.TB, f *os.File, size, last int64, n int) (int, bool) {
			// fallocate without KEEP_SIZE: the reserved extents become
			// part of the file, unwritten, read as zeros.
			if err := fallocate(f, 0, size, 1<<20); err != nil {
				tb.Fatal(err)
			}
			return n, false
		}},
		{"the last batch's data was lost too", func(tb testing.TB, f *os.File, size, last int64, n int) (int, bool) {
			if err := fallocate(f, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, last, size-last); err != nil {
				tb.Fatal(err)
			}
			if err := fallocate(f, 0, size, 1<<20); err != nil {
				tb.Fatal(err)
			}
			return n - 1, false
		}},
		{"a zero run with data after it is damage", func(tb testing.TB, f *os.File, size, last int64, n int) (int, bool) {
			if err := fallocate(f, 0, size, 1<<20); err != nil {
				tb.Fatal(err)
			}
			if _, err := f.WriteAt([]byte{0xab}, size+200_000); err != nil {
				tb.Fatal(err)
			}
			return n, true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, 1)
			requireFallocate(t, cfg.Dirs[0])
			cfg.SegmentBytes = 8000
			s := openStore(t, cfg)
			p := onePartition(t, s, "zero")
			fill(t, p, "z", 30)
			batches := readAll(t, p, 0)
			segs := p.Segments()
			p.mu.RLock()
			size := p.segs[len(p.segs)-1].size
			p.mu.RUnlock()
			last := size - int64(len(batches[len(batches)-1]))
			dir := p.dir
			s.crash()

			f, err := os.OpenFile(filepath.Join(dir, segmentName(segs[len(segs)-1], logSuffix)), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			keep, torn := tt.damage(t, f, size, last, len(batches))
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}

			s = openStore(t, cfg)
			p = s.Partition("zero", 0)
			sameBatches(t, readAll(t, p, 0), batches[:keep])
			wantNext := parseHeader(batches[keep-1]).lastOffset() + 1
			if got := p.HighWatermark(); got != wantNext {
				t.Fatalf("high watermark %d after recovery, want %d", got, wantNext)
			}
			if got := s.Stats().BytesTruncated; (got > 0) != torn {
				t.Fatalf("%d bytes counted as torn; want torn=%v", got, torn)
			}
			if res := mustAppend(t, p, simple(t, "after", 2, 10)); res.BaseOffset != wantNext {
				t.Fatalf("append after recovery at %d, want %d", res.BaseOffset, wantNext)
			}
			sameBatches(t, readAll(t, p, 0)[:keep], batches[:keep])
		})
	}
}
