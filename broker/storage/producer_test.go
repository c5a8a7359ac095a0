package storage

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func idem(tb testing.TB, pid int64, epoch int16, seq int32, n int) []byte {
	return encodeBatch(tb, batchOpts{values: values("idem", n, 16), timestamp: 1_700_000_000_000, pid: pid, epoch: epoch, seq: seq})
}

func TestIdempotentProducer(t *testing.T) {
	type step struct {
		epoch   int16
		seq     int32
		n       int
		want    *kerr.Error
		dup     bool
		wantOff int64 // base offset expected (original for duplicates)
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"in-order batches are appended", []step{{0, 0, 3, nil, false, 0}, {0, 3, 2, nil, false, 3}, {0, 5, 1, nil, false, 5}}},
		{"a retried batch is a duplicate with its original offset", []step{{0, 0, 3, nil, false, 0}, {0, 3, 2, nil, false, 3}, {0, 0, 3, nil, true, 0}, {0, 3, 2, nil, true, 3}}},
		{"a sequence gap is out of order", []step{{0, 0, 3, nil, false, 0}, {0, 5, 1, kerr.OutOfOrderSequenceNumber, false, 0}}},
		{"a repeat of an older seq range that is not a known batch is out of order", []step{{0, 0, 3, nil, false, 0}, {0, 1, 1, kerr.OutOfOrderSequenceNumber, false, 0}}},
		{"only the last five batches are remembered", []step{
			{0, 0, 1, nil, false, 0}, {0, 1, 1, nil, false, 1}, {0, 2, 1, nil, false, 2}, {0, 3, 1, nil, false, 3},
			{0, 4, 1, nil, false, 4}, {0, 5, 1, nil, false, 5}, {0, 1, 1, nil, true, 1}, {0, 0, 1, kerr.OutOfOrderSequenceNumber, false, 0}}},
		{"an epoch bump starts again at sequence 0", []step{{0, 0, 3, nil, false, 0}, {1, 0, 1, nil, false, 3}, {1, 1, 1, nil, false, 4}}},
		{"an epoch bump with a non-zero sequence is out of order", []step{{0, 0, 3, nil, false, 0}, {1, 3, 1, kerr.OutOfOrderSequenceNumber, false, 0}}},
		{"an older epoch is rejected", []step{{2, 0, 1, nil, false, 0}, {1, 1, 1, kerr.InvalidProducerEpoch, false, 0}}},
		{"an unknown producer may start at any sequence", []step{{0, 42, 2, nil, false, 0}, {0, 44, 1, nil, false, 2}}},
		{"sequences wrap after MaxInt32", []step{{0, 2147483646, 2, nil, false, 0}, {0, 0, 1, nil, false, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, testConfig(t, 1))
			p := onePartition(t, s, "idem")
			for i, st := range tt.steps {
				res, err := p.Append(idem(t, 1000, st.epoch, st.seq, st.n), false)
				if st.want != nil {
					wantKerr(t, err, st.want)
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if res.Duplicate != st.dup || res.BaseOffset != st.wantOff {
					t.Fatalf("step %d: got base %d duplicate %v, want base %d duplicate %v", i, res.BaseOffset, res.Duplicate, st.wantOff, st.dup)
				}
			}
		})
	}
}

func TestIdempotenceSurvivesRestart(t *testing.T) {
	for _, clean := range []bool{true, false} {
		name := map[bool]string{true: "after a clean shutdown", false: "after a crash"}[clean]
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t, 1)
			cfg.SegmentBytes = 2048 // several rolls, so snapshots and replay both matter
			s := openStore(t, cfg)
			p := onePartition(t, s, "idem")
			var seq int32
			for range 30 {
				mustAppend(t, p, idem(t, 77, 3, seq, 2))
				seq += 2
			}
			mustAppend(t, p, idem(t, 78, 0, 0, 1)) // a second producer, last in the log
			hwm := p.HighWatermark()
			if clean {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				s.crash()
			}
			s = openStore(t, cfg)
			p = s.Partition("idem", 0)
			if p.HighWatermark() != hwm {
				t.Fatalf("high watermark %d after restart, want %d", p.HighWatermark(), hwm)
			}
			res, err := p.Append(idem(t, 77, 3, seq-2, 2), false)
			if err != nil || !res.Duplicate || res.BaseOffset != hwm-3 {
				t.Fatalf("retry of the last batch after restart: %+v, %v; want duplicate at %d", res, err, hwm-3)
			}
			_, err = p.Append(idem(t, 77, 3, seq+1, 1), false)
			wantKerr(t, err, kerr.OutOfOrderSequenceNumber)
			_, err = p.Append(idem(t, 77, 2, 0, 1), false)
			wantKerr(t, err, kerr.InvalidProducerEpoch)
			res = mustAppend(t, p, idem(t, 77, 3, seq, 1))
			if res.Duplicate || res.BaseOffset != hwm {
				t.Fatalf("next batch after restart: %+v, want a write at %d", res, hwm)
			}
			res = mustAppend(t, p, idem(t, 78, 0, 0, 1))
			if !res.Duplicate || res.BaseOffset != hwm-1 {
				t.Fatalf("retry of producer 78's batch: %+v, want duplicate at %d", res, hwm-1)
			}
		})
	}
}

func TestNextProducerIDUniqueAcrossRestarts(t *testing.T) {
	cfg := testConfig(t, 2)
	seen := map[int64]bool{}
	for range 3 {
		s := openStore(t, cfg)
		for range 5 {
			id, err := s.NextProducerID()
			if err != nil {
				t.Fatal(err)
			}
			if seen[id] {
				t.Fatalf("producer id %d handed out twice", id)
			}
			seen[id] = true
		}
		s.crash() // no clean shutdown needed for uniqueness
	}
}

func TestRetentionForgetsProducersWhoseBatchesAreGone(t *testing.T) {
	s := openStore(t, testConfig(t, 1))
	mustCreate(t, s, "gone", 1, map[string]*string{"segment.bytes": ptr("300"), "retention.bytes": ptr("0")})
	p := s.Partition("gone", 0)
	mustAppend(t, p, idem(t, 1, 0, 0, 5))    // segment 0
	mustAppend(t, p, idem(t, 2, 0, 0, 5))    // segment 5
	mustAppend(t, p, simple(t, "x", 1, 300)) // segment 10, active
	if n := s.enforceRetention(); n != 2 {
		t.Fatalf("retention deleted %d segments, want 2", n)
	}
	p.mu.RLock()
	n := len(p.producers)
	p.mu.RUnlock()
	if n != 0 {
		t.Fatalf("%d producers left after their batches were deleted, want 0", n)
	}
	// Producer 1 comes back mid-sequence: accepted, as Kafka does after
	// its state expired.
	if res := mustAppend(t, p, idem(t, 1, 0, 5, 1)); res.Duplicate || res.BaseOffset != 11 {
		t.Fatalf("returning producer: %+v, want a write at 11", res)
	}
}
