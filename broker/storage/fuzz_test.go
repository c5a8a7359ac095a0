package storage

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// FuzzValidateBatches feeds arbitrary produce data to batch validation: it
// must never panic, every rejection must carry a Kafka error code, and
// whatever it accepts must be whole v2 batches with valid CRCs that cover
// the input exactly. Seeds live in testdata/fuzz/FuzzValidateBatches.
func FuzzValidateBatches(f *testing.F) {
	f.Add(simple(f, "seed", 3, 20))
	f.Add(append(simple(f, "a", 1, 5), simple(f, "b", 2, 5)...))
	f.Add(encodeBatch(f, batchOpts{values: values("i", 2, 8), pid: 9, epoch: 1, seq: 4}))
	f.Fuzz(func(t *testing.T, data []byte) {
		batches, err := validateBatches(data, DefaultMessageMaxBytes, fuzzDec, nil)
		if err != nil {
			var ke *kerr.Error
			if !errors.As(err, &ke) {
				t.Fatalf("rejection without a Kafka error code: %v", err)
			}
			return
		}
		pos := 0
		for _, b := range batches {
			if b.pos != pos {
				t.Fatalf("batch at %d, want %d", b.pos, pos)
			}
			raw := data[b.pos : int64(b.pos)+b.size()]
			if _, err := checkStoredBatch(raw); err != nil {
				t.Fatalf("accepted batch does not check: %v", err)
			}
			if int64(b.recordCount) != int64(b.lastOffsetDelta)+1 {
				t.Fatalf("accepted batch with %d records and lastOffsetDelta %d", b.recordCount, b.lastOffsetDelta)
			}
			pos += int(b.size())
		}
		if pos != len(data) {
			t.Fatalf("accepted batches cover %d of %d bytes", pos, len(data))
		}
	})
}

var fuzzDec = newDecompressor(DefaultMaxDecompressedBytes)
