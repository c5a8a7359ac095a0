package storage

import (
	"encoding/binary"
	"runtime/metrics"
	"testing"
	"time"
)

// manyProducers creates topic "t" with one partition and appends to it one
// single-record batch for each of n producer ids (1..n), 2,000 batches per
// Append.
func manyProducers(tb testing.TB, s *Store, n int) *Partition {
	tb.Helper()
	p := onePartition(tb, s, "t")
	tmpl := idem(tb, 1, 0, 0, 1)
	var records []byte
	for pid := 1; pid <= n; pid++ {
		b := append([]byte(nil), tmpl...)
		binary.BigEndian.PutUint64(b[offProducerID:], uint64(pid))
		fixBatch(b)
		records = append(records, b...)
		if pid%2000 == 0 || pid == n {
			mustAppend(tb, p, records)
			records = records[:0]
		}
	}
	return p
}

func producerCount(p *Partition) int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.producers)
}

func TestProducerIDsExpire(t *testing.T) {
	const n = 200_000
	cfg, clock := clockedConfig(t, 1)
	cfg.ProducerIDExpiration = time.Hour
	s := openStore(t, cfg)
	p := manyProducers(t, s, n)
	if got := producerCount(p); got != n {
		t.Fatalf("%d producers known, want %d", got, n)
	}
	clock.Advance(30 * time.Minute)
	mustAppend(t, p, idem(t, 7, 0, 1, 1)) // producer 7 stays active
	if got := s.expireProducers(); got != 0 {
		t.Fatalf("after 30 minutes %d producers expired, want 0", got)
	}
	clock.Advance(31 * time.Minute)
	if got := s.expireProducers(); got != n-1 {
		t.Fatalf("after 61 minutes %d producers expired, want %d", got, n-1)
	}
	if got := producerCount(p); got != 1 {
		t.Fatalf("%d producers left, want only producer 7", got)
	}
	// Producer 7 is still checked; an expired one may start anywhere.
	if res, err := p.Append(idem(t, 7, 0, 1, 1), false); err != nil || !res.Duplicate {
		t.Fatalf("producer 7 resending its last batch: %+v, %v; want a duplicate", res, err)
	}
	mustAppend(t, p, idem(t, 8, 0, 5, 1))
}

func TestRollDoesNotCopyProducerState(t *testing.T) {
	const n = 200_000
	cfg, clock := clockedConfig(t, 1)
	cfg.RollInterval = time.Hour
	s := openStore(t, cfg)
	p := manyProducers(t, s, n)
	s.bg.Wait()
	segsBefore := len(p.Segments())

	// Hold the roll's background work (flush, snapshot) until the append
	// that rolled has been measured.
	release := make(chan struct{})
	testHookRollBackground = func() { <-release }
	t.Cleanup(func() { testHookRollBackground = nil })
	clock.Advance(2 * time.Hour)
	batch := simple(t, "roll", 1, 10)
	objs := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}}
	metrics.Read(objs)
	before := objs[0].Value.Uint64()
	mustAppend(t, p, batch)
	metrics.Read(objs)
	allocs := objs[0].Value.Uint64() - before
	close(release)
	if segs := len(p.Segments()); segs != segsBefore+1 {
		t.Fatalf("%d segments, want %d: the append did not roll", segs, segsBefore+1)
	}
	if allocs > 1000 {
		t.Errorf("an append that rolled with %d producers allocated %d objects, want under 1000", n, allocs)
	}

	// The snapshot written in the background holds every producer, and
	// the state survives a crash.
	s.bg.Wait()
	s.crash()
	s2 := openStore(t, cfg)
	if got := producerCount(s2.Partition("t", 0)); got != n {
		t.Fatalf("after a crash %d producers known, want %d", got, n)
	}
	if res, err := s2.Partition("t", 0).Append(idem(t, 12345, 0, 0, 1), false); err != nil || !res.Duplicate {
		t.Fatalf("producer 12345 resending after the crash: %+v, %v; want a duplicate", res, err)
	}
}

func TestReplayAfterASnapshotSkipsBatchesItHolds(t *testing.T) {
	ps := producerState{}
	h := batchHeader{producerID: 1, producerEpoch: 0, baseSequence: 0, baseOffset: 10, lastOffsetDelta: 0}
	ps.apply(&h, 1)
	ps.apply(&h, 2) // the same batch seen again by the replay
	if got := len(ps[1].Batches); got != 1 {
		t.Fatalf("%d batches recorded, want 1", got)
	}
	h2 := h
	h2.baseOffset, h2.baseSequence = 11, 1
	ps.apply(&h2, 3)
	if got := len(ps[1].Batches); got != 2 {
		t.Fatalf("%d batches recorded, want 2", got)
	}
}
