package bpf

import (
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

const pcFileSize = 8 << 20 // 2048 pages

// coldFile writes a file, fsyncs it and drops its pages with
// posix_fadvise(DONTNEED) (not a global drop_caches), and checks with
// cachestat(2) that none are resident.
func coldFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(t.TempDir(), "cold"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	buf := make([]byte, pcFileSize)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	if _, err := f.Write(buf); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	dropPages(t, f)
	if cs := cachestat(t, f); cs.Cache != 0 {
		t.Fatalf("after DONTNEED %d pages still cached", cs.Cache)
	}
	return f
}

func dropPages(t *testing.T, f *os.File) {
	t.Helper()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatalf("fadvise DONTNEED: %v", err)
	}
}

func cachestat(t *testing.T, f *os.File) *unix.Cachestat_t {
	t.Helper()
	cs := new(unix.Cachestat_t)
	if err := unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{Off: 0, Len: 0}, cs, 0); err != nil {
		t.Fatalf("cachestat: %v", err)
	}
	return cs
}

// readAll reads f from the start in 128 KiB reads, like a consumer.
func readAll(t *testing.T, f *os.File) {
	t.Helper()
	buf := make([]byte, 128<<10)
	var off int64
	for {
		n, err := f.ReadAt(buf, off)
		off += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if off != pcFileSize {
		t.Fatalf("read %d bytes, want %d", off, pcFileSize)
	}
}

func hitRatio(t *testing.T, w Snapshot) Ratio {
	t.Helper()
	r, ok := w.Ratio(FamilyPageCache, "hit_ratio")
	if !ok || !r.Valid {
		t.Fatalf("no valid hit ratio in window: %+v (counters %+v)", r, w.Counters)
	}
	return r
}

func TestPageCacheColdWarmAndPartialReads(t *testing.T) {
	p := newTestProbes(t, Config{Families: []Family{FamilyPageCache}})
	pages := uint64(pcFileSize / os.Getpagesize())

	f := coldFile(t)
	before := snapshot(t, p)
	readAll(t, f)
	cold := snapshot(t, p).Delta(before)
	r := hitRatio(t, cold)
	t.Logf("cold: accesses %d pages, inserts %d, hit ratio %.1f%%", cold.Value(FamilyPageCache, "access_pages"), cold.Value(FamilyPageCache, "insert_pages"), 100*r.Value)
	if got := cold.Value(FamilyPageCache, "access_pages"); got != pages {
		t.Errorf("cold read accesses = %d pages, want %d (de-duplicated, clipped at EOF)", got, pages)
	}
	if r.Value > 0.01 {
		t.Errorf("cold read hit ratio %.2f%%, want ~0%%", 100*r.Value)
	}

	before = snapshot(t, p)
	readAll(t, f)
	warm := snapshot(t, p).Delta(before)
	r = hitRatio(t, warm)
	t.Logf("warm: accesses %d pages, inserts %d, hit ratio %.1f%%", warm.Value(FamilyPageCache, "access_pages"), warm.Value(FamilyPageCache, "insert_pages"), 100*r.Value)
	if r.Value < 0.99 {
		t.Errorf("warm read hit ratio %.2f%%, want ~100%%", 100*r.Value)
	}

	// Partial pre-read: every third 64 KiB chunk, without readahead.
	dropPages(t, f)
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_RANDOM); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for off := int64(0); off < pcFileSize; off += 3 * int64(len(chunk)) {
		if _, err := f.ReadAt(chunk, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_NORMAL); err != nil {
		t.Fatal(err)
	}
	cs := cachestat(t, f)
	want := float64(cs.Cache) / float64(pages)
	before = snapshot(t, p)
	readAll(t, f)
	partial := snapshot(t, p).Delta(before)
	r = hitRatio(t, partial)
	t.Logf("partial: cachestat says %d of %d pages resident (%.1f%%); bpf hit ratio %.1f%% (accesses %d, inserts %d)",
		cs.Cache, pages, 100*want, 100*r.Value, partial.Value(FamilyPageCache, "access_pages"), partial.Value(FamilyPageCache, "insert_pages"))
	if math.Abs(r.Value-want) > 0.02 {
		t.Errorf("partial hit ratio %.2f%% vs cachestat %.2f%%: more than 2 points apart", 100*r.Value, 100*want)
	}
}

func TestPageCacheTellsWriteInsertsFromReadMisses(t *testing.T) {
	p := newTestProbes(t, Config{Families: []Family{FamilyPageCache}})
	f := tempFile(t, "append", 0)
	before := snapshot(t, p)
	buf := make([]byte, 4096)
	const appends = 256
	for range appends {
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	w := snapshot(t, p).Delta(before)
	ins, wr := w.Value(FamilyPageCache, "insert_pages"), w.Value(FamilyPageCache, "write_insert_pages")
	t.Logf("appends: %d pages inserted, %d told apart as write inserts", ins, wr)
	if ins < appends || wr != ins {
		t.Errorf("appending %d pages: inserts %d, write inserts %d; want every insert counted as a write", appends, ins, wr)
	}
	if err := f.Sync(); err != nil { // DONTNEED skips dirty pages
		t.Fatal(err)
	}
	before = snapshot(t, p)
	dropPages(t, f)
	w = snapshot(t, p).Delta(before)
	if got := w.Value(FamilyPageCache, "evict_pages"); got < appends {
		t.Errorf("DONTNEED of %d written pages: %d evictions in scope", appends, got)
	}
}
