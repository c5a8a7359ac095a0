package storage

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// txnBatch is a transactional batch of n records from pid.
func txnBatch(tb testing.TB, pid int64, epoch int16, seq int32, n int) []byte {
	raw := encodeBatch(tb, batchOpts{values: values("txn", n, 16), timestamp: 1_700_000_000_000, pid: pid, epoch: epoch, seq: seq})
	binary.BigEndian.PutUint16(raw[offAttributes:], binary.BigEndian.Uint16(raw[offAttributes:])|attrTransactional)
	fixBatch(raw)
	return raw
}

// readCommitted reads from offset up to the LSO in one call and returns
// the batches' base offsets, the aborted transactions and the LSO.
func readCommitted(tb testing.TB, p *Partition, offset int64) ([]int64, []AbortedTxn, int64) {
	tb.Helper()
	sl, aborted, lso, err := p.ReadCommitted(offset, 1<<20, nil)
	if err != nil {
		tb.Fatalf("ReadCommitted(%d): %v", offset, err)
	}
	defer sl.Release()
	data, err := sl.readAll()
	if err != nil {
		tb.Fatal(err)
	}
	var bases []int64
	for len(data) > 0 {
		h := parseHeader(data)
		if _, err := checkStoredBatch(data[:h.size()]); err != nil {
			tb.Fatalf("batch at offset %d: %v", h.baseOffset, err)
		}
		bases = append(bases, h.baseOffset)
		data = data[h.size():]
	}
	if aborted == nil {
		tb.Fatal("ReadCommitted returned a nil aborted list")
	}
	return bases, aborted, lso
}

func TestTransactionsLSOAndAbortedIndex(t *testing.T) {
	cfg := testConfig(t, 1)
	s := openStore(t, cfg)
	p := onePartition(t, s, "txn")

	mustAppend(t, p, txnBatch(t, 1, 0, 0, 2))  // 0-1: producer 1's transaction
	mustAppend(t, p, txnBatch(t, 2, 0, 0, 2))  // 2-3: producer 2's transaction
	mustAppend(t, p, simple(t, "plain", 1, 8)) // 4
	if got := p.LastStableOffset(); got != 0 {
		t.Fatalf("LSO with two ongoing transactions = %d, want 0", got)
	}
	if bases, _, lso := readCommitted(t, p, 0); len(bases) != 0 || lso != 0 {
		t.Fatalf("read_committed below an ongoing transaction returned batches %v, LSO %d", bases, lso)
	}
	if err := p.WriteTxnMarker(1, 0, true, 0); err != nil { // 5
		t.Fatal(err)
	}
	if bases, aborted, lso := readCommitted(t, p, 0); !reflect.DeepEqual(bases, []int64{0}) || len(aborted) != 0 || lso != 2 {
		t.Fatalf("after commit: batches %v, aborted %v, LSO %d; want [0], none, 2", bases, aborted, lso)
	}
	if err := p.WriteTxnMarker(2, 1, false, 0); err != nil { // 6, with an epoch bump
		t.Fatal(err)
	}
	mustAppend(t, p, txnBatch(t, 3, 0, 0, 1)) // 7: producer 3, left unfinished
	want := []AbortedTxn{{ProducerID: 2, FirstOffset: 2, LastOffset: 6, LastStable: 7}}
	check := func(when string) {
		t.Helper()
		bases, aborted, lso := readCommitted(t, p, 0)
		if !reflect.DeepEqual(bases, []int64{0, 2, 4, 5, 6}) || !reflect.DeepEqual(aborted, want) || lso != 7 {
			t.Fatalf("%s: batches %v, aborted %+v, LSO %d; want [0 2 4 5 6], %+v, 7", when, bases, aborted, lso, want)
		}
		if _, aborted, _ := readCommitted(t, p, 6); !reflect.DeepEqual(aborted, want) {
			t.Fatalf("%s: aborted from offset 6 = %+v, want %+v", when, aborted, want)
		}
		if _, aborted, _ := readCommitted(t, p, 7); len(aborted) != 0 {
			t.Fatalf("%s: aborted from the LSO = %+v, want none", when, aborted)
		}
		// The fenced epoch is refused.
		_, err := p.Append(txnBatch(t, 2, 0, 2, 1), false)
		wantKerr(t, err, kerr.InvalidProducerEpoch)
	}
	check("live")

	s.crash()
	s = openStore(t, cfg)
	p = s.Partition("txn", 0)
	check("after a crash")

	// The same after a crash that lost the .txnindex: rebuilt from the log.
	s.crash()
	if err := removeGlob(p.dir, "*"+txnIndexSuffix); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, cfg)
	p = s.Partition("txn", 0)
	check("after a crash without the index")

	if err := p.WriteTxnMarker(3, 0, false, 0); err != nil { // 8
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, cfg)
	p = s.Partition("txn", 0)
	_, aborted, lso := readCommitted(t, p, 0)
	want = append(want, AbortedTxn{ProducerID: 3, FirstOffset: 7, LastOffset: 8, LastStable: 9})
	if !reflect.DeepEqual(aborted, want) || lso != 9 {
		t.Fatalf("after a clean restart: aborted %+v, LSO %d; want %+v, 9", aborted, lso, want)
	}
}

// TestTransactionSpansSegments reads committed data whose abort marker is
// in a later segment than its records.
func TestTransactionSpansSegments(t *testing.T) {
	cfg := testConfig(t, 1)
	s := openStore(t, cfg)
	mustCreate(t, s, "txn", 1, map[string]*string{"segment.bytes": ptr("1024")})
	p := s.Partition("txn", 0)
	seq := int32(0)
	for range 10 {
		mustAppend(t, p, txnBatch(t, 7, 0, seq, 2))
		seq += 2
	}
	if err := p.WriteTxnMarker(7, 0, false, 0); err != nil {
		t.Fatal(err)
	}
	if len(p.Segments()) < 2 {
		t.Fatalf("want several segments, got %v", p.Segments())
	}
	for _, off := range []int64{0, 10, 19} {
		_, aborted, _ := readCommitted(t, p, off)
		if len(aborted) != 1 || aborted[0].FirstOffset != 0 || aborted[0].LastOffset != 20 {
			t.Fatalf("aborted from offset %d = %+v, want producer 7's [0, 20]", off, aborted)
		}
	}
}

func removeGlob(dir, pattern string) error {
	paths, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		return err
	}
	for _, path := range paths {
		if err := os.Remove(path); err != nil {
			return err
		}
	}
	return nil
}
