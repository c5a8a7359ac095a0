package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// This file holds the transactional side of a partition (KIP-98), as
// Kafka's ProducerStateManager and TransactionIndex keep it:
//
//   - a transactional batch (attribute bit 0x10) from a producer without
//     an ongoing transaction here starts one at its base offset
//     (producerEntry.apply);
//   - the last stable offset (LSO) is the first offset of the oldest
//     ongoing transaction, or the high watermark when there is none;
//   - the transaction coordinator ends a transaction with a control batch,
//     a COMMIT or ABORT marker (WriteTxnMarker);
//   - an aborted transaction is recorded in the .txnindex file of the
//     segment holding its marker, Kafka's format: 34-byte entries (version
//     int16 0, producer id int64, first offset int64, last offset int64,
//     last stable offset int64), kept in memory per segment, fsynced when
//     written and rebuilt from the log for the offsets replayed at load;
//   - ReadCommitted serves read_committed fetches: batches below the LSO
//     and the aborted transactions that overlap them.

const (
	txnIndexSuffix = ".txnindex"
	// abortedTxnSize is Kafka's AbortedTxn.TOTAL_SIZE.
	abortedTxnSize = 34
	// Control record types (Kafka's ControlRecordType: ABORT 0, COMMIT 1).
	controlAbort  = 0
	controlCommit = 1
)

// AbortedTxn is one aborted transaction of a partition: the producer and
// the offsets of its first record and of its ABORT marker.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
	LastOffset  int64
	// LastStable is the partition's LSO right after the abort: every
	// transaction aborted later starts at or after it (Kafka's
	// AbortedTxn.lastStableOffset, used to end a lookup early).
	LastStable int64
}

func (a AbortedTxn) append(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, 0)
	dst = binary.BigEndian.AppendUint64(dst, uint64(a.ProducerID))
	dst = binary.BigEndian.AppendUint64(dst, uint64(a.FirstOffset))
	dst = binary.BigEndian.AppendUint64(dst, uint64(a.LastOffset))
	return binary.BigEndian.AppendUint64(dst, uint64(a.LastStable))
}

// txnIndexPath is the segment's .txnindex file.
func (s *segment) txnIndexPath() string {
	return strings.TrimSuffix(s.logPath, logSuffix) + txnIndexSuffix
}

// writeAborted appends one entry to the segment's .txnindex and returns
// the file, still open, for the caller to fdatasync and close outside the
// partition lock.
func (s *segment) writeAborted(a AbortedTxn) (*os.File, error) {
	f, err := os.OpenFile(s.txnIndexPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening transaction index: %w", err)
	}
	if _, err := f.Write(a.append(make([]byte, 0, abortedTxnSize))); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing transaction index %s: %w", s.txnIndexPath(), err)
	}
	return f, nil
}

// loadAborted reads the segment's .txnindex: entries whose marker is at or
// beyond end (lost with a torn tail) are dropped and the file rewritten
// without them; a torn last entry is cut.
func (s *segment) loadAborted(end int64) error {
	path := s.txnIndexPath()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading transaction index: %w", err)
	}
	s.aborted = s.aborted[:0]
	valid := true
	for b := data; len(b) > 0; b = b[min(len(b), abortedTxnSize):] {
		if len(b) < abortedTxnSize || binary.BigEndian.Uint16(b) != 0 {
			valid = false
			break
		}
		a := AbortedTxn{
			ProducerID:  int64(binary.BigEndian.Uint64(b[2:])),
			FirstOffset: int64(binary.BigEndian.Uint64(b[10:])),
			LastOffset:  int64(binary.BigEndian.Uint64(b[18:])),
			LastStable:  int64(binary.BigEndian.Uint64(b[26:])),
		}
		if a.LastOffset < s.base || a.LastOffset >= end || (len(s.aborted) > 0 && a.LastOffset <= s.aborted[len(s.aborted)-1].LastOffset) {
			valid = false
			break
		}
		s.aborted = append(s.aborted, a)
	}
	if valid {
		return nil
	}
	var out []byte
	for _, a := range s.aborted {
		out = a.append(out)
	}
	return writeFileAtomic(path, out)
}

// controlBatch builds a control batch holding one end-transaction marker
// (Kafka's MemoryRecords.withEndTransactionMarker): attributes transactional
// and control, sequence -1, one record whose key is (version 0, type) and
// whose value is (version 0, coordinator epoch).
func controlBatch(pid int64, epoch int16, commit bool, coordinatorEpoch int32, nowMs int64) []byte {
	typ := int16(controlAbort)
	if commit {
		typ = controlCommit
	}
	var rec []byte
	rec = append(rec, 0)                        // attributes
	rec = binary.AppendVarint(rec, 0)           // timestamp delta
	rec = binary.AppendVarint(rec, 0)           // offset delta
	rec = binary.AppendVarint(rec, 4)           // key length
	rec = binary.BigEndian.AppendUint16(rec, 0) // key version
	rec = binary.BigEndian.AppendUint16(rec, uint16(typ))
	rec = binary.AppendVarint(rec, 6)           // value length
	rec = binary.BigEndian.AppendUint16(rec, 0) // value version
	rec = binary.BigEndian.AppendUint32(rec, uint32(coordinatorEpoch))
	rec = binary.AppendVarint(rec, 0) // headers

	b := make([]byte, batchHeaderSize, batchHeaderSize+binary.MaxVarintLen32+len(rec))
	b = binary.AppendVarint(b, int64(len(rec)))
	b = append(b, rec...)
	be := binary.BigEndian
	be.PutUint32(b[offLength:], uint32(len(b)-logOverhead))
	b[offMagic] = 2
	be.PutUint16(b[offAttributes:], attrTransactional|attrControl)
	be.PutUint32(b[offLastOffsetDelta:], 0)
	be.PutUint64(b[offBaseTimestamp:], uint64(nowMs))
	be.PutUint64(b[offMaxTimestamp:], uint64(nowMs))
	be.PutUint64(b[offProducerID:], uint64(pid))
	be.PutUint16(b[offProducerEpoch:], uint16(epoch))
	be.PutUint32(b[offBaseSequence:], 0xffffffff)
	be.PutUint32(b[offRecordCount:], 1)
	be.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	return b
}

// readControlType reads the marker type of the control batch at pos
// (the caller holds a use of the segment's log): commit or abort.
func (s *segment) readControlType(pos int64, h *batchHeader) (bool, error) {
	n := min(h.size()-batchHeaderSize, 32)
	buf := make([]byte, n)
	if _, err := s.log.ReadAt(buf, pos+batchHeaderSize); err != nil {
		return false, fmt.Errorf("reading control record at %d of %s: %w", pos, s.logPath, err)
	}
	b := buf
	if h.attributes&attrCompressionMask != 0 {
		return false, fmt.Errorf("reading control record at %d of %s: compressed control batch", pos, s.logPath)
	}
	for _, field := range []string{"length", "attributes", "timestamp delta", "offset delta", "key length"} {
		if field == "attributes" {
			if len(b) < 1 {
				return false, fmt.Errorf("reading control record at %d of %s: truncated", pos, s.logPath)
			}
			b = b[1:]
			continue
		}
		_, used, err := varint(b)
		if err != nil {
			return false, fmt.Errorf("reading control record at %d of %s: %s: %w", pos, s.logPath, field, err)
		}
		b = b[used:]
	}
	if len(b) < 4 {
		return false, fmt.Errorf("reading control record at %d of %s: short key", pos, s.logPath)
	}
	return int16(binary.BigEndian.Uint16(b[2:])) == controlCommit, nil
}

// endTxn applies an end-transaction marker at offset to the producer's
// entry (Kafka's ProducerAppendInfo.appendEndTxnMarker): a newer epoch
// replaces the old one, and the ongoing transaction, if any, ends. It
// returns that transaction's first offset.
func (e *producerEntry) endTxn(epoch int16, offset, ts int64) (first int64, ongoing bool) {
	e.LastTimestamp = max(e.LastTimestamp, ts)
	if epoch > e.Epoch {
		e.Epoch = epoch
		e.Batches = nil
	}
	first, ongoing = e.TxnFirst, e.InTxn
	e.InTxn, e.TxnFirst = false, 0
	e.MarkerEnd = offset + 1
	return first, ongoing
}

// noteTxns records the transactions the producers of an append started
// (p.mu held).
func (p *Partition) noteTxns(pending []pendingProducer) {
	for _, pp := range pending {
		pid, e := pp.pid, pp.e
		if !e.InTxn {
			continue
		}
		if _, ok := p.ongoing[pid]; ok {
			continue
		}
		p.ongoing[pid] = e.TxnFirst
		if p.stable.Load() < 0 {
			p.stable.Store(e.TxnFirst)
		}
	}
}

// oldestOngoing is the first offset of the oldest ongoing transaction, or
// -1 (p.mu held).
func oldestOngoing(ongoing map[int64]int64) int64 {
	lso := int64(-1)
	for _, first := range ongoing {
		if lso < 0 || first < lso {
			lso = first
		}
	}
	return lso
}

// LastStableOffset returns the partition's last stable offset: the first
// offset of the oldest ongoing transaction, or the high watermark.
func (p *Partition) LastStableOffset() int64 {
	hwm := p.hwm.Load()
	if s := p.stable.Load(); s >= 0 {
		return min(s, hwm)
	}
	return hwm
}

// lastStableLocked is LastStableOffset under p.mu.
func (p *Partition) lastStableLocked() int64 {
	if s := p.stable.Load(); s >= 0 {
		return s
	}
	return p.hwm.Load()
}

// WriteTxnMarker appends a COMMIT or ABORT marker for the producer's
// transaction and fdatasyncs the log up to it, as the transaction
// coordinator's WriteTxnMarkers does on Kafka (where the marker is
// replicated before the transaction completes). A marker for a producer
// without an ongoing transaction here is still written, as Kafka does. An
// older epoch than the partition knows gets INVALID_PRODUCER_EPOCH.
func (p *Partition) WriteTxnMarker(pid int64, epoch int16, commit bool, coordinatorEpoch int32) error {
	st := &p.store.stats
	now := p.store.cfg.Now()
	b := controlBatch(pid, epoch, commit, coordinatorEpoch, now.UnixMilli())

	p.mu.Lock()
	if err := p.unavailable(); err != nil {
		p.mu.Unlock()
		return err
	}
	cur := p.producers[pid]
	if cur != nil && epoch < cur.Epoch {
		p.mu.Unlock()
		return fmt.Errorf("writing transaction marker to %s: producer %d epoch %d is older than %d: %w", p, pid, epoch, cur.Epoch, kerr.InvalidProducerEpoch)
	}
	base := p.hwm.Load()
	h := parseHeader(b)
	h.baseOffset = base
	seg := p.segs[len(p.segs)-1]
	if p.shouldRoll(seg, int64(len(b)), base, now) {
		var err error
		if seg, err = p.roll(now); err != nil {
			p.mu.Unlock()
			st.storageErrors.Add(1)
			return fmt.Errorf("writing transaction marker to %s: %w: %w", p, err, kerr.KafkaStorageError)
		}
	}
	setBaseOffset(b, base)
	e := &producerEntry{Epoch: epoch}
	if cur != nil {
		e = cur.clone()
	}
	first, ongoing := e.endTxn(epoch, base, now.UnixMilli())
	var aborted *AbortedTxn
	var ixf *os.File
	if !commit && ongoing {
		rest := make(map[int64]int64, len(p.ongoing))
		for k, v := range p.ongoing {
			if k != pid {
				rest[k] = v
			}
		}
		lso := oldestOngoing(rest)
		if lso < 0 {
			lso = base + 1
		}
		aborted = &AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: base, LastStable: lso}
		// The index entry goes first: an entry whose marker never made it
		// to the log is past the log's end at load and dropped.
		var err error
		if ixf, err = seg.writeAborted(*aborted); err != nil {
			p.mu.Unlock()
			st.storageErrors.Add(1)
			return fmt.Errorf("writing transaction marker to %s: %w: %w", p, err, kerr.KafkaStorageError)
		}
	}
	pos := seg.size
	if pos == 0 {
		seg.created = now
	}
	if _, err := seg.log.Write(b); err != nil {
		if terr := seg.log.Truncate(pos); terr != nil {
			p.failed = fmt.Errorf("truncating %s to %d after a failed write: %w", seg.logPath, pos, terr)
		}
		p.mu.Unlock()
		if ixf != nil {
			ixf.Close()
		}
		st.storageErrors.Add(1)
		return fmt.Errorf("writing transaction marker to %s: %w: %w", seg.logPath, err, kerr.KafkaStorageError)
	}
	seg.noteBatch(&h)
	seg.indexBatch(&h, pos, p.cfg.Load().indexInterval)
	seg.size += int64(len(b))
	p.producers[pid] = e
	if aborted != nil {
		seg.aborted = append(seg.aborted, *aborted)
	}
	if _, ok := p.ongoing[pid]; ok {
		delete(p.ongoing, pid)
		p.stable.Store(oldestOngoing(p.ongoing))
	}
	p.hwm.Store(base + 1)
	if p.unflushed == 0 {
		p.unflushedSince = now
	}
	p.unflushed++
	p.wake(false)
	p.mu.Unlock()

	st.appends.Add(1)
	st.appendedBatches.Add(1)
	st.appendedRecords.Add(1)
	st.appendedBytes.Add(uint64(len(b)))
	if ixf != nil {
		err := fdatasync(ixf)
		if cerr := ixf.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("writing transaction marker to %s: syncing the transaction index: %w: %w", p, err, kerr.KafkaStorageError)
		}
	}
	if err := p.flushTo(base+1, false); err != nil {
		return fmt.Errorf("writing transaction marker to %s: %w", p, err)
	}
	return nil
}

// ReadCommitted is Read for read_committed consumers: it returns whole
// batches from offset up to the last stable offset (at least one batch
// when offset is below it, KIP-74), the aborted transactions that overlap
// them (appended to aborted, which is returned non-nil), and the LSO. An
// offset at or above the LSO and up to the high watermark gives an empty
// Slice. The caller must Release the Slice.
func (p *Partition) ReadCommitted(offset int64, maxBytes int32, aborted []AbortedTxn) (Slice, []AbortedTxn, int64, error) {
	if aborted == nil {
		aborted = []AbortedTxn{}
	}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return Slice{}, aborted, -1, p.unavailableRead()
	}
	hwm, start := p.hwm.Load(), p.lso.Load()
	lso := p.lastStableLocked()
	if offset < start || offset > hwm {
		p.mu.RUnlock()
		return Slice{}, aborted, lso, fmt.Errorf("reading %s at offset %d outside [%d, %d]: %w", p, offset, start, hwm, kerr.OffsetOutOfRange)
	}
	if offset >= lso {
		p.mu.RUnlock()
		return Slice{}, aborted, lso, nil
	}
	seg, size, entries := p.pick(offset)
	if seg == nil {
		p.mu.RUnlock()
		return Slice{}, aborted, lso, fmt.Errorf("reading %s at offset %d: no segment holds it: %w", p, offset, kerr.KafkaStorageError)
	}
	n0 := len(aborted)
	segNext := seg.next
	_, err := seg.acquire()
	p.mu.RUnlock()
	if err != nil {
		p.store.stats.storageErrors.Add(1)
		return Slice{}, aborted[:n0], lso, fmt.Errorf("reading %s at offset %d: %w: %w", p, offset, err, kerr.KafkaStorageError)
	}
	if lso < segNext {
		// The LSO is a batch boundary (a transaction's first batch) in
		// this segment: read no further than its position.
		pos, _, err := locateBatch(seg, size, entries, lso)
		if err != nil {
			seg.release()
			p.store.stats.storageErrors.Add(1)
			return Slice{}, aborted[:n0], lso, fmt.Errorf("reading %s at offset %d: %w: %w", p, offset, err, kerr.KafkaStorageError)
		}
		size = pos
	}
	sl, err := readSegment(seg, size, entries, offset, maxBytes)
	if err != nil {
		seg.release()
		p.store.stats.storageErrors.Add(1)
		return Slice{}, aborted[:n0], lso, fmt.Errorf("reading %s at offset %d: %w: %w", p, offset, err, kerr.KafkaStorageError)
	}
	// Kafka's LogSegment.fetchUpperBoundOffset: the offset of the first
	// index entry past the bytes read bounds the records sent.
	upper := segNext
	if end := uint32(sl.Pos + sl.Size); end < uint32(size) {
		k := sort.Search(len(entries), func(k int) bool { return entries[k].pos >= end })
		if k < len(entries) {
			upper = seg.base + int64(entries[k].rel) + 1
		}
	}
	p.mu.RLock()
	aborted = p.collectAborted(aborted, seg.base, offset, upper)
	p.mu.RUnlock()
	p.store.stats.reads.Add(1)
	p.store.stats.readBytes.Add(uint64(sl.Size))
	return sl, aborted, lso, nil
}

// collectAborted appends the aborted transactions that overlap [offset,
// upper): marker at or after offset, first record below upper, looking in
// the segments from base on. As Kafka's TransactionIndex.collectAbortedTxns
// it stops at an entry whose LSO reaches upper: every later transaction
// started at or after it (p.mu held).
func (p *Partition) collectAborted(aborted []AbortedTxn, base, offset, upper int64) []AbortedTxn {
	i := sort.Search(len(p.segs), func(i int) bool { return p.segs[i].base >= base })
	for _, s := range p.segs[i:] {
		j := sort.Search(len(s.aborted), func(j int) bool { return s.aborted[j].LastOffset >= offset })
		for _, a := range s.aborted[j:] {
			if a.FirstOffset < upper {
				aborted = append(aborted, a)
			}
			if a.LastStable >= upper {
				return aborted
			}
		}
	}
	return aborted
}

// loadTxnIndexes loads the segments' transaction indexes (the partition
// is not yet shared: no lock).
func (p *Partition) loadTxnIndexes() error {
	end := p.hwm.Load()
	for _, s := range p.segs {
		if err := s.loadAborted(end); err != nil {
			return fmt.Errorf("loading %s: %w", p, err)
		}
	}
	return nil
}

// replayMarker applies a control batch found while rebuilding producer
// state: ongoing maps producers to their transactions' first offsets and
// is kept in step; an aborted transaction missing from the segment's index
// is added to it.
func (p *Partition) replayMarker(ps producerState, ongoing map[int64]int64, sg *segment, pos int64, h *batchHeader, ts int64) error {
	e := ps[h.producerID]
	if e == nil {
		e = &producerEntry{Epoch: h.producerEpoch}
		ps[h.producerID] = e
	}
	if h.baseOffset < e.MarkerEnd {
		return nil // already in the snapshot
	}
	commit, err := sg.readControlType(pos, h)
	if err != nil {
		return err
	}
	first, was := e.endTxn(h.producerEpoch, h.baseOffset, ts)
	delete(ongoing, h.producerID)
	if commit || !was {
		return nil
	}
	j := sort.Search(len(sg.aborted), func(j int) bool { return sg.aborted[j].LastOffset >= h.baseOffset })
	if j < len(sg.aborted) && sg.aborted[j].LastOffset == h.baseOffset {
		return nil
	}
	lso := oldestOngoing(ongoing)
	if lso < 0 {
		lso = h.baseOffset + 1
	}
	a := AbortedTxn{ProducerID: h.producerID, FirstOffset: first, LastOffset: h.baseOffset, LastStable: lso}
	sg.aborted = append(sg.aborted, AbortedTxn{})
	copy(sg.aborted[j+1:], sg.aborted[j:])
	sg.aborted[j] = a
	var out []byte
	for _, x := range sg.aborted {
		out = x.append(out)
	}
	return writeFileAtomic(sg.txnIndexPath(), out)
}
