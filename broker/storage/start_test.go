package storage

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// newSegmentedPartition makes a topic whose one partition holds n batches
// of 3 records in segments of about 2 batches each.
func newSegmentedPartition(t *testing.T, s *Store, topic string, n int) *Partition {
	t.Helper()
	mustCreate(t, s, topic, 1, map[string]*string{"segment.bytes": ptr("400")})
	p := s.Partition(topic, 0)
	for i := range n {
		mustAppend(t, p, encodeBatch(t, batchOpts{pid: -1, timestamp: int64(1000 + 3*i), values: values("v", 3, 50)}))
	}
	if len(p.Segments()) < 3 {
		t.Fatalf("want at least 3 segments, have %v", p.Segments())
	}
	return p
}

func TestDeleteRecordsMovesStartAndDeletesSegments(t *testing.T) {
	cfg := testConfig(t, 1)
	s := openStore(t, cfg)
	p := newSegmentedPartition(t, s, "t", 8) // offsets 0..23
	before := len(p.Segments())

	wantKerr(t, errOf(p.DeleteRecords(-2)), kerr.OffsetOutOfRange)
	wantKerr(t, errOf(p.DeleteRecords(25)), kerr.OffsetOutOfRange)
	lso, err := p.DeleteRecords(10)
	if err != nil || lso != 10 {
		t.Fatalf("DeleteRecords(10) = %d, %v", lso, err)
	}
	if p.LogStartOffset() != 10 {
		t.Fatalf("log start offset %d, want 10", p.LogStartOffset())
	}
	segs := p.Segments()
	if len(segs) >= before || segs[0] > 10 {
		t.Errorf("segments %v after deleting below 10 (had %d): whole segments below must go, the one holding 10 stay", segs, before)
	}
	for _, base := range segs {
		if base > 10 {
			break
		}
		if _, err := os.Stat(filepath.Join(p.dir, segmentName(base, logSuffix))); err != nil {
			t.Errorf("segment %d holding offset 10 is gone: %v", base, err)
		}
	}
	// Below the start: out of range; at it: the batch holding it.
	wantKerr(t, errOf(p.Read(9, 1<<20)), kerr.OffsetOutOfRange)
	if h := parseHeader(readAt(t, p, 10, 1<<20)); h.baseOffset > 10 || h.lastOffset() < 10 {
		t.Errorf("read at the start gave batch [%d, %d]", h.baseOffset, h.lastOffset())
	}
	// By time: records below the start are not answers.
	if off, _, ok := p.OffsetForTimestamp(0); !ok || off != 10 {
		t.Errorf("OffsetForTimestamp(0) = %d %v, want 10", off, ok)
	}
	// Not above the start: unchanged, answered with the start.
	if lso, err := p.DeleteRecords(4); err != nil || lso != 10 {
		t.Errorf("DeleteRecords(4) = %d, %v, want 10", lso, err)
	}

	// Durable: a crash (no Close) keeps the start.
	s.crash()
	s = openStore(t, cfg)
	p = s.Partition("t", 0)
	if p.LogStartOffset() != 10 || p.HighWatermark() != 24 {
		t.Fatalf("after a crash: start %d end %d, want 10 and 24", p.LogStartOffset(), p.HighWatermark())
	}
	wantKerr(t, errOf(p.Read(9, 1<<20)), kerr.OffsetOutOfRange)

	// -1: everything, up to the high watermark.
	if lso, err := p.DeleteRecords(DeleteRecordsHighWatermark); err != nil || lso != 24 {
		t.Fatalf("DeleteRecords(-1) = %d, %v, want 24", lso, err)
	}
	if segs := p.Segments(); len(segs) != 1 {
		t.Errorf("segments %v after deleting everything, want the active one only", segs)
	}
	mustAppend(t, p, simple(t, "after", 1, 10))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, cfg)
	p = s.Partition("t", 0)
	if p.LogStartOffset() != 24 || p.HighWatermark() != 25 {
		t.Fatalf("after a restart: start %d end %d, want 24 and 25", p.LogStartOffset(), p.HighWatermark())
	}
}

func TestDeletedTopicDoesNotLeaveItsStartToANewOne(t *testing.T) {
	cfg := testConfig(t, 1)
	s := openStore(t, cfg)
	p := newSegmentedPartition(t, s, "t", 6)
	if _, err := p.DeleteRecords(12); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTopic("t"); err != nil {
		t.Fatal(err)
	}
	p = newSegmentedPartition(t, s, "t", 6)
	s.crash()
	s = openStore(t, cfg)
	if lso := s.Partition("t", 0).LogStartOffset(); lso != 0 {
		t.Fatalf("a new topic of a deleted one's name starts at %d, want 0", lso)
	}
}

func errOf[T any](_ T, err error) error { return err }

// A segment whose timestamps reach the one asked for, but only below the
// log start offset, is passed over for the next one.
func TestOffsetForTimestampSkipsRecordsBelowTheStart(t *testing.T) {
	s := openStore(t, testConfig(t, 1))
	mustCreate(t, s, "ts", 1, map[string]*string{"segment.bytes": ptr("700")})
	p := s.Partition("ts", 0)
	// One segment with offsets 0-2 at time 5000 (out of order) and 3-5 at
	// 1000, then a new segment with 6-8 at 6000.
	mustAppend(t, p, encodeBatch(t, batchOpts{values: values("a", 3, 50), timestamp: 5000}))
	mustAppend(t, p, encodeBatch(t, batchOpts{values: values("b", 3, 50), timestamp: 1000}))
	mustAppend(t, p, encodeBatch(t, batchOpts{values: values("c", 3, 50), timestamp: 6000}))
	if segs := p.Segments(); len(segs) != 2 || segs[1] != 6 {
		t.Fatalf("segments %v, want [0 6]", segs)
	}
	if _, err := p.DeleteRecords(3); err != nil {
		t.Fatal(err)
	}
	off, ts, ok := p.OffsetForTimestamp(4000)
	if !ok || off != 6 || ts != 6000 {
		t.Fatalf("OffsetForTimestamp(4000) = %d at %d (%v), want 6 at 6000 (offsets 0-2 at 5000 are below the start 3)", off, ts, ok)
	}
}
