package storage

import (
	"time"

	"testing"
)

// A read of the active segment's latest batches is answered from memory
// (recentBatches) with the same range the index and header scan give, for
// every offset and limit, including after the ring has wrapped; an offset
// older than the ring falls back to the scan.
func TestTailReadMatchesHeaderScan(t *testing.T) {
	cfg := testConfig(t, 1)
	cfg.IndexIntervalBytes = 1024
	cfg.MaxIndexBytes = 1 << 20
	s := openStore(t, cfg)
	p := onePartition(t, s, "tail")

	const batches = tailBatches + 60 // the ring wraps
	var next int64
	for i := range batches {
		n := 1 + i%4
		mustAppend(t, p, simple(t, "tail", n, 50+i%7*40))
		next += int64(n)
	}
	p.mu.RLock()
	seg, size, entries := p.pick(0)
	p.mu.RUnlock()
	if len(p.Segments()) != 1 {
		t.Fatalf("%d segments, want the one active segment", len(p.Segments()))
	}
	if _, err := seg.acquire(); err != nil {
		t.Fatal(err)
	}
	defer seg.release()

	inTail := 0
	for off := int64(0); off < next; off++ {
		for _, maxBytes := range []int32{0, 1, 200, 700, 3000, 1 << 20} {
			want, err := readSegment(seg, size, entries, off, maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			p.mu.RLock()
			start, end, ok := seg.recent.span(uint32(off-seg.base), size, maxBytes)
			p.mu.RUnlock()
			if ok {
				inTail++
				if start != want.Pos || end-start != want.Size {
					t.Fatalf("offset %d, maxBytes %d: tail gives [%d, %d), the scan [%d, %d)", off, maxBytes, start, end, want.Pos, want.Pos+want.Size)
				}
			}
			got, err := p.Read(off, maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			if got.Pos != want.Pos || got.Size != want.Size {
				t.Fatalf("Read(%d, %d) = [%d, +%d), want [%d, +%d)", off, maxBytes, got.Pos, got.Size, want.Pos, want.Size)
			}
			got.Release()
		}
	}
	// The ring holds exactly the last tailBatches batches.
	var tailOffsets int64
	for i := batches - tailBatches; i < batches; i++ {
		tailOffsets += int64(1 + i%4)
	}
	if want := int(tailOffsets) * 6; inTail != want {
		t.Fatalf("%d reads answered from the tail, want %d (the last %d batches' offsets x 6 limits)", inTail, want, tailBatches)
	}
}

// After a restart the active segment's older batches are read by the scan
// and new ones from the tail; a roll drops the sealed segment's tail.
func TestTailReadAfterReopenAndRoll(t *testing.T) {
	cfg := testConfig(t, 1)
	cfg.IndexIntervalBytes = 256
	s := openStore(t, cfg)
	mustCreate(t, s, "tail", 1, nil)
	var want [][]byte
	for i := range 10 {
		b := simple(t, "tail", 2, 100+i)
		want = append(want, b)
		mustAppend(t, s.Partition("tail", 0), b)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, cfg)
	p := s.Partition("tail", 0)
	for i := range 5 {
		b := simple(t, "tail", 2, 300+i)
		want = append(want, b)
		mustAppend(t, p, b)
	}
	p.mu.RLock()
	seg := p.segs[len(p.segs)-1]
	if _, _, ok := seg.recent.span(19, seg.size, 1<<20); ok {
		t.Error("offset 19, appended before the restart, found in the tail")
	}
	if _, _, ok := seg.recent.span(20, seg.size, 1<<20); !ok {
		t.Error("offset 20, appended after the restart, not found in the tail")
	}
	p.mu.RUnlock()
	checkBatches(t, readAll(t, p, 0), want)

	p.mu.Lock()
	_, err := p.roll(time.Now())
	p.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if seg.recent.n != 0 {
		t.Errorf("sealed segment still holds %d tail entries", seg.recent.n)
	}
	b := simple(t, "tail", 2, 400)
	want = append(want, b)
	mustAppend(t, p, b)
	checkBatches(t, readAll(t, p, 0), want)
}

func checkBatches(t *testing.T, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d batches, want %d", len(got), len(want))
	}
	for i := range got {
		if string(got[i][61:]) != string(want[i][61:]) { // records; the header got its offsets
			t.Fatalf("batch %d differs from what was appended", i)
		}
	}
}
