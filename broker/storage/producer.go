package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// producerBatchesKept is how many recent batches per producer are kept for
// duplicate detection: Kafka's ProducerStateEntry.NUM_BATCHES_TO_RETAIN,
// which is why idempotent clients allow at most 5 in-flight requests.
const producerBatchesKept = 5

// producerBatch is the metadata of one appended idempotent batch.
type producerBatch struct {
	FirstSeq int32 `json:"first_seq"`
	LastSeq  int32 `json:"last_seq"`
	Base     int64 `json:"base"`
	Last     int64 `json:"last"`
}

// producerEntry is the state of one producer id in one partition. An
// entry in a partition's producerState is never changed in place (Append
// replaces it with a changed clone), so a snapshot may read it without
// holding the partition lock for the whole walk.
type producerEntry struct {
	Epoch   int16           `json:"epoch"`
	Batches []producerBatch `json:"batches"` // oldest first, at most producerBatchesKept
	// LastTimestamp (ms) is when the producer last appended here: the
	// broker's clock at append, or at replay the batch's maxTimestamp
	// (no later than the load's clock). producer.id.expiration.ms counts
	// from it, as Kafka's ProducerStateEntry.lastTimestamp.
	LastTimestamp int64 `json:"last_timestamp"`
	// InTxn says the producer has an ongoing transaction here, which
	// started at offset TxnFirst (Kafka's currentTxnFirstOffset).
	InTxn    bool  `json:"in_txn,omitempty"`
	TxnFirst int64 `json:"txn_first,omitempty"`
	// MarkerEnd is one past the offset of the last transaction marker
	// applied: batches below it are already in this state (a snapshot
	// read while appends went on may hold later markers than its offset).
	MarkerEnd int64 `json:"marker_end,omitempty"`
}

// clone returns a copy of e. Every idempotent append clones its
// producer's entry, so the copy and room for producerBatchesKept batches
// come in one allocation.
func (e *producerEntry) clone() *producerEntry {
	c := newProducerEntry(e.Epoch)
	batches := c.Batches
	*c = *e
	c.Batches = append(batches, e.Batches...)
	return c
}

// newProducerEntry returns an empty entry at epoch whose Batches has room
// for producerBatchesKept batches, in one allocation.
func newProducerEntry(epoch int16) *producerEntry {
	c := &struct {
		e producerEntry
		b [producerBatchesKept]producerBatch
	}{e: producerEntry{Epoch: epoch}}
	c.e.Batches = c.b[:0]
	return &c.e
}

// pendingProducer is a producer's entry as an append in progress leaves
// it: a clone, put in the partition's producerState once the batches are
// written. An append holds a few (one per producer id in the request,
// which is one for every client), searched in order instead of a map.
type pendingProducer struct {
	pid int64
	e   *producerEntry
}

// producerState maps producer ids to their state. It is guarded by the
// partition's mu.
type producerState map[int64]*producerEntry

func (ps producerState) clone() producerState {
	c := make(producerState, len(ps))
	for k, v := range ps {
		c[k] = v.clone()
	}
	return c
}

// check validates an idempotent batch against its producer's entry (nil
// for a producer this partition has not seen) as Kafka's ProducerAppendInfo
// does, after looking for a duplicate of one of the last five batches. A
// duplicate returns that batch.
func (e *producerEntry) check(pid int64, h *batchHeader) (*producerBatch, error) {
	if e == nil {
		// KIP-360: a producer without state here (new, or its batches
		// expired) may start at any sequence.
		return nil, nil
	}
	if h.producerEpoch < e.Epoch {
		return nil, fmt.Errorf("producer %d: epoch %d is older than the current epoch %d: %w", pid, h.producerEpoch, e.Epoch, kerr.InvalidProducerEpoch)
	}
	if h.producerEpoch > e.Epoch {
		if h.baseSequence != 0 {
			return nil, fmt.Errorf("producer %d: first sequence %d for new epoch %d, expected 0: %w", pid, h.baseSequence, h.producerEpoch, kerr.OutOfOrderSequenceNumber)
		}
		return nil, nil
	}
	last := h.lastSequence()
	for i := range e.Batches {
		if b := &e.Batches[i]; b.FirstSeq == h.baseSequence && b.LastSeq == last {
			return b, nil
		}
	}
	if n := len(e.Batches); n > 0 {
		prev := e.Batches[n-1].LastSeq
		if !inSequence(prev, h.baseSequence) {
			return nil, fmt.Errorf("producer %d epoch %d: out of order sequence %d after %d: %w", pid, h.producerEpoch, h.baseSequence, prev, kerr.OutOfOrderSequenceNumber)
		}
	}
	return nil, nil
}

// inSequence is Kafka's ProducerAppendInfo.inSequence.
func inSequence(last, next int32) bool {
	return int64(next) == int64(last)+1 || (next == 0 && last == math.MaxInt32)
}

// apply records an appended batch (with its final base offset) at ts
// (ms), creating the producer's entry if needed.
func (ps producerState) apply(h *batchHeader, ts int64) {
	e := ps[h.producerID]
	if e == nil {
		e = newProducerEntry(h.producerEpoch)
		ps[h.producerID] = e
	}
	e.apply(h, ts)
}

// apply records an appended batch in e. A batch at or below the last one
// recorded is skipped: a snapshot written while appends went on may
// already hold batches that the replay after it brings again.
func (e *producerEntry) apply(h *batchHeader, ts int64) {
	e.LastTimestamp = max(e.LastTimestamp, ts)
	if h.baseOffset < e.MarkerEnd {
		return
	}
	if n := len(e.Batches); n > 0 && e.Batches[n-1].Last >= h.baseOffset {
		return
	}
	if h.attributes&attrTransactional != 0 && !e.InTxn {
		e.InTxn, e.TxnFirst = true, h.baseOffset
	}
	if h.producerEpoch != e.Epoch {
		e.Epoch = h.producerEpoch
		e.Batches = e.Batches[:0]
	}
	if len(e.Batches) == producerBatchesKept {
		copy(e.Batches, e.Batches[1:])
		e.Batches = e.Batches[:producerBatchesKept-1]
	}
	e.Batches = append(e.Batches, producerBatch{FirstSeq: h.baseSequence, LastSeq: h.lastSequence(), Base: h.baseOffset, Last: h.lastOffset()})
}

// Producer snapshots: <20-digit offset>.snapshot in the partition dir
// holds the producer state as of that offset (Kafka's file name; our own
// content, see doc.go): a CRC32C (8 hex digits), a newline, then JSON.
type snapshotFile struct {
	Version   int                      `json:"version"`
	Offset    int64                    `json:"offset"`
	Producers map[string]producerEntry `json:"producers"`
}

// writeSnapshot writes ps as the producer state at offset.
func writeSnapshot(dir string, offset int64, ps producerState) error {
	sf := snapshotFile{Version: 1, Offset: offset, Producers: make(map[string]producerEntry, len(ps))}
	for pid, e := range ps {
		sf.Producers[strconv.FormatInt(pid, 10)] = *e
	}
	return writeSnapshotFile(dir, sf)
}

func writeSnapshotFile(dir string, sf snapshotFile) error {
	body, err := json.Marshal(sf)
	if err != nil {
		return fmt.Errorf("encoding producer snapshot: %w", err)
	}
	data := fmt.Appendf(nil, "%08x\n%s", crc32.Checksum(body, castagnoli), body)
	return writeFileAtomic(filepath.Join(dir, segmentName(sf.Offset, snapshotSuffix)), data)
}

// readSnapshot reads a snapshot; entries written before LastTimestamp
// existed get now (ms).
func readSnapshot(path string, now int64) (producerState, int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("reading producer snapshot %s: %w", path, err)
	}
	sum, body, ok := strings.Cut(string(data), "\n")
	want, perr := strconv.ParseUint(sum, 16, 32)
	if !ok || perr != nil || uint32(want) != crc32.Checksum([]byte(body), castagnoli) {
		return nil, 0, fmt.Errorf("reading producer snapshot %s: checksum mismatch", path)
	}
	var sf snapshotFile
	if err := json.Unmarshal([]byte(body), &sf); err != nil {
		return nil, 0, fmt.Errorf("reading producer snapshot %s: %w", path, err)
	}
	if sf.Version != 1 {
		return nil, 0, fmt.Errorf("reading producer snapshot %s: unknown version %d", path, sf.Version)
	}
	ps := make(producerState, len(sf.Producers))
	for k, e := range sf.Producers {
		pid, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			return nil, 0, fmt.Errorf("reading producer snapshot %s: producer id %q: %w", path, k, err)
		}
		c := e.clone()
		if c.LastTimestamp == 0 {
			c.LastTimestamp = now
		}
		ps[pid] = c
	}
	return ps, sf.Offset, nil
}

// listSnapshots returns the snapshot offsets in dir, newest first.
func listSnapshots(dir string) ([]int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	var offs []int64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), snapshotSuffix)
		if !ok {
			continue
		}
		if off, err := strconv.ParseInt(name, 10, 64); err == nil {
			offs = append(offs, off)
		}
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] > offs[j] })
	return offs, nil
}

// pruneSnapshots keeps the newest keep snapshots.
func pruneSnapshots(dir string, keep int) error {
	offs, err := listSnapshots(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, off := range offs[min(keep, len(offs)):] {
		if err := os.Remove(filepath.Join(dir, segmentName(off, snapshotSuffix))); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
