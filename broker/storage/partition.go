package storage

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/brokerlab/brokerlab/internal/fsutil"
)

// Partition is one topic partition's log: a list of segments, the last
// one active. All its methods are safe for concurrent use.
type Partition struct {
	store *Store
	topic string
	id    int32
	dir   string // <log.dir>/<topic>-<partition>
	ld    *logDir
	// cfg is the topic's effective config; SetTopicConfigs swaps it.
	cfg atomic.Pointer[topicConfig]

	// mu guards segs, producers, the unflushed counters, failed,
	// closed and every segment's fields. Append holds it for the write;
	// Read holds it only to pick the segment and copy its state.
	mu             sync.RWMutex
	segs           []*segment
	producers      producerState
	unflushed      int64     // records appended since the last flush started
	unflushedSince time.Time // when the first of them was appended
	failed         error     // a write or sync error the log cannot recover from without a restart
	closed         bool
	// ongoing maps producers with an ongoing transaction here to its
	// first offset (txn.go).
	ongoing map[int64]int64

	// waitCh is the channel the next append closes; nil until someone
	// waits, so appends with no waiting fetch allocate nothing. After
	// close it is closedChan for good.
	waitCh atomic.Pointer[chan struct{}]

	hwm atomic.Int64 // next offset to assign (high watermark = log end offset on a single node)
	lso atomic.Int64 // log start offset: base of the first segment
	// stable is the first offset of the oldest ongoing transaction, -1
	// when there is none (the last stable offset is then the high
	// watermark); written under mu.
	stable atomic.Int64

	// syncMu serialises fdatasync calls (group commit); flushed is the
	// recovery point: every offset below it is on disk.
	syncMu  sync.Mutex
	flushed atomic.Int64

	// snapshotting is set while a roll's producer snapshot is written.
	snapshotting atomic.Bool
}

// AppendResult is the outcome of an Append.
type AppendResult struct {
	// BaseOffset is the offset of the first record written, or of the
	// original batch for a duplicate.
	BaseOffset int64
	// LogAppendTime is the broker's timestamp when the topic uses
	// LogAppendTime, else -1.
	LogAppendTime int64
	// LogStartOffset is the partition's log start offset.
	LogStartOffset int64
	// Duplicate says the batch repeats one of its producer's last five
	// batches: nothing was written and BaseOffset is the original's.
	Duplicate bool
}

// Topic returns the partition's topic name.
func (p *Partition) Topic() string { return p.topic }

func (p *Partition) String() string { return fmt.Sprintf("%s-%d", p.topic, p.id) }

// HighWatermark returns the offset the next appended record will get.
func (p *Partition) HighWatermark() int64 { return p.hwm.Load() }

// LogStartOffset returns the first offset still in the log.
func (p *Partition) LogStartOffset() int64 { return p.lso.Load() }

// recoveryPoint returns the offset below which every record has been
// fdatasync'ed.
func (p *Partition) recoveryPoint() int64 { return p.flushed.Load() }

// Wait returns a channel that is closed by the next append to the
// partition (or when the partition closes): every waiter wakes at once.
// Check HighWatermark after calling Wait to avoid missing an append.
func (p *Partition) Wait() <-chan struct{} {
	for {
		if c := p.waitCh.Load(); c != nil {
			return *c
		}
		c := make(chan struct{})
		if p.waitCh.CompareAndSwap(nil, &c) {
			return c
		}
	}
}

// closedChan is what Wait returns once the partition is closed.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// wake closes the current Wait channel (p.mu held); with final, Wait
// returns a closed channel from now on.
func (p *Partition) wake(final bool) {
	var next *chan struct{}
	if final {
		next = &closedChan
	}
	if c := p.waitCh.Swap(next); c != nil && *c != closedChan {
		close(*c)
	}
}

// Size returns the bytes in the partition's segments.
func (p *Partition) Size() int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var n int64
	for _, s := range p.segs {
		n += s.size
	}
	return n
}

// Segments returns the base offsets of the partition's segments, oldest first.
func (p *Partition) Segments() []int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]int64, len(p.segs))
	for i, s := range p.segs {
		out[i] = s.base
	}
	return out
}

func (p *Partition) unavailable() error {
	if p.closed {
		return fmt.Errorf("partition %s: %w: %w", p, ErrClosed, kerr.UnknownTopicOrPartition)
	}
	if p.failed != nil {
		return fmt.Errorf("partition %s is offline after a storage error: %w: %w", p, p.failed, kerr.KafkaStorageError)
	}
	return nil
}

// Append validates every record batch in records and appends them. It
// rewrites, in records itself, each batch's baseOffset and
// partitionLeaderEpoch (and maxTimestamp, the timestamp-type bit and the
// CRC when the topic uses LogAppendTime); batches whose codec is not the
// topic's compression.type (unless producer) are rebuilt in a new buffer
// with that codec first (compress.go). See the package documentation for
// validation, idempotence and the flush policy. With sync, Append returns
// only after an fdatasync that covers its write; concurrent synced appends
// to one partition share one fdatasync (group commit). Errors wrap a kerr
// value.
func (p *Partition) Append(records []byte, sync bool) (AppendResult, error) {
	st := &p.store.stats
	var buf [4]validatedBatch // most produce requests carry one batch per partition
	cfg := p.cfg.Load()
	batches, err := validateBatches(records, cfg.maxMessageBytes, p.store.dec, buf[:0])
	if err == nil {
		if target := cfg.compression; target != codecProducer {
			// compression.type: batches of another codec are rebuilt into
			// a new buffer, checked again (the size bound applies to what
			// is stored, as in Kafka's LogValidator).
			var rebuilt []byte
			if rebuilt, err = p.store.recompress(records, batches, target, cfg.maxMessageBytes); err == nil && &rebuilt[0] != &records[0] {
				records = rebuilt
				batches, err = validateBatches(records, cfg.maxMessageBytes, p.store.dec, buf[:0])
			}
		}
	}
	if err != nil {
		st.rejected.Add(1)
		return AppendResult{}, fmt.Errorf("appending to %s: %w", p, err)
	}
	now := p.store.cfg.Now()

	p.mu.Lock()
	if err := p.unavailable(); err != nil {
		p.mu.Unlock()
		return AppendResult{}, err
	}
	// Assign offsets and check producer state before anything is written.
	next := p.hwm.Load()
	var records64 int64
	var pendBuf [4]pendingProducer
	pending := pendBuf[:0]
	for i := range batches {
		h := &batches[i].batchHeader
		h.baseOffset = next
		next += int64(h.lastOffsetDelta) + 1
		records64 += int64(h.recordCount)
		if h.producerID < 0 {
			continue
		}
		at := slices.IndexFunc(pending, func(pp pendingProducer) bool { return pp.pid == h.producerID })
		var e *producerEntry
		if at >= 0 {
			e = pending[at].e
		} else if cur := p.producers[h.producerID]; cur != nil {
			e = cur.clone()
		}
		dup, err := e.check(h.producerID, h)
		if err != nil {
			p.mu.Unlock()
			st.rejected.Add(1)
			return AppendResult{}, fmt.Errorf("appending to %s: %w", p, err)
		}
		if dup != nil {
			lso := p.lso.Load()
			p.mu.Unlock()
			st.duplicates.Add(1)
			return AppendResult{BaseOffset: dup.Base, LogAppendTime: -1, LogStartOffset: lso, Duplicate: true}, nil
		}
		if e == nil {
			e = newProducerEntry(h.producerEpoch)
		}
		e.apply(h, now.UnixMilli())
		if at < 0 {
			pending = append(pending, pendingProducer{h.producerID, e})
		}
	}
	seg := p.segs[len(p.segs)-1]
	if p.shouldRoll(seg, int64(len(records)), next-1, now) {
		if seg, err = p.roll(now); err != nil {
			// The old segment stays active (a full disk may refuse new
			// files); the next append tries to roll again.
			p.mu.Unlock()
			st.storageErrors.Add(1)
			return AppendResult{}, fmt.Errorf("appending to %s: %w: %w", p, err, kerr.KafkaStorageError)
		}
	}

	appendTime := int64(-1)
	for i := range batches {
		b := &batches[i]
		raw := records[b.pos : int64(b.pos)+b.size()]
		setBaseOffset(raw, b.baseOffset)
		if cfg.logAppendTime {
			appendTime = now.UnixMilli()
			setLogAppendTime(raw, appendTime)
			b.maxTimestamp = appendTime
			b.attributes |= attrLogAppendTime
		}
	}

	pos := seg.size
	if pos == 0 {
		// The roll clock starts with the first batch (Kafka's
		// rollingBasedTimestamp), not when an empty segment was made.
		seg.created = now
	}
	if err := seg.reserveSpace(int64(len(records)), p.store.cfg.PreallocateBytes, cfg.segmentBytes); err != nil {
		p.store.log.Warn("appending without preallocation", "partition", p.String(), "err", err)
	}
	if _, err := seg.log.Write(records); err != nil {
		// A short write (ENOSPC) leaves part of a batch in the file: cut it
		// so that no partial batch is ever visible, now or after a restart.
		if terr := seg.log.Truncate(pos); terr != nil {
			p.failed = fmt.Errorf("truncating %s to %d after a failed write: %w", seg.logPath, pos, terr)
		}
		seg.alloc, seg.allocStep = 0, 0 // the truncate freed the space past pos
		p.mu.Unlock()
		st.storageErrors.Add(1)
		return AppendResult{}, fmt.Errorf("appending %d bytes to %s: %w: %w", len(records), seg.logPath, err, kerr.KafkaStorageError)
	}
	for i := range batches {
		b := &batches[i]
		seg.noteBatch(&b.batchHeader)
		seg.indexBatch(&b.batchHeader, pos+int64(b.pos), cfg.indexInterval)
		seg.recent.add(uint32(b.baseOffset-seg.base), uint32(b.lastOffset()-seg.base), uint32(pos+int64(b.pos)))
	}
	seg.size += int64(len(records))
	for _, pp := range pending {
		p.producers[pp.pid] = pp.e
	}
	p.noteTxns(pending)
	p.hwm.Store(next)
	if p.unflushed == 0 {
		p.unflushedSince = now
	}
	p.unflushed += records64
	flush := sync || (cfg.flushMessages > 0 && p.unflushed >= cfg.flushMessages)
	p.wake(false)
	lso := p.lso.Load()
	p.mu.Unlock()

	st.appends.Add(1)
	st.appendedBatches.Add(uint64(len(batches)))
	st.appendedRecords.Add(uint64(records64))
	st.appendedBytes.Add(uint64(len(records)))

	res := AppendResult{BaseOffset: batches[0].baseOffset, LogAppendTime: appendTime, LogStartOffset: lso}
	if flush {
		if err := p.flushTo(next, false); err != nil {
			return AppendResult{}, fmt.Errorf("appending to %s: %w", p, err)
		}
	}
	return res, nil
}

// shouldRoll is Kafka's LogSegment.shouldRoll: the active segment is full
// (size, index, time index), too old (segment.ms / log.roll.ms, counted
// from when the segment was created or loaded), or lastOffset does not fit
// a relative offset. An empty segment never rolls.
func (p *Partition) shouldRoll(seg *segment, n, lastOffset int64, now time.Time) bool {
	if seg.size == 0 {
		return false
	}
	return seg.size > p.cfg.Load().segmentBytes-n ||
		now.Sub(seg.created) >= p.cfg.Load().roll ||
		seg.index.full() || seg.tindex.full() ||
		lastOffset-seg.base > math.MaxInt32
}

// roll seals the active segment and creates the next one (p.mu held). The
// sealed segment is flushed and a producer snapshot written in the
// background, as Kafka's UnifiedLog.roll schedules flushUptoOffsetExclusive.
func (p *Partition) roll(now time.Time) (*segment, error) {
	old := p.segs[len(p.segs)-1]
	seg, err := createSegment(p.dir, old.next, p.cfg.Load().maxIndexBytes, now)
	if err != nil {
		return nil, err
	}
	if err := old.seal(); err != nil {
		p.store.log.Warn("trimming indexes on roll", "partition", p.String(), "err", err)
	}
	if err := old.closeIndexes(); err != nil {
		p.store.log.Warn("closing indexes on roll", "partition", p.String(), "err", err)
	}
	// The background flush keeps the old log open until it has synced it
	// (a writeback error is reported only to descriptors open at the time).
	if _, err := old.acquire(); err != nil {
		return nil, err
	}
	old.unpin()
	p.segs = append(p.segs, seg)
	p.store.stats.rolls.Add(1)
	base := seg.base
	// The producer state is not copied here: the background snapshot reads
	// it in chunks. While one snapshot is being written, rolls skip theirs
	// (recovery replays from an older one).
	snapshot := p.snapshotting.CompareAndSwap(false, true)
	p.store.bg.Go(func() {
		defer old.release()
		if snapshot {
			defer p.snapshotting.Store(false)
		}
		if testHookRollBackground != nil {
			testHookRollBackground()
		}
		if err := p.flushTo(base, true); err != nil {
			p.store.log.Warn("flushing rolled segment", "partition", p.String(), "err", err)
			return
		}
		if !snapshot {
			return
		}
		if err := writeSnapshotFile(p.dir, p.readProducers(base)); err != nil {
			p.store.log.Warn("writing producer snapshot", "partition", p.String(), "err", err)
			return
		}
		if err := pruneSnapshots(p.dir, 3); err != nil {
			p.store.log.Warn("pruning producer snapshots", "partition", p.String(), "err", err)
		}
	})
	return seg, nil
}

// testHookRollBackground, when set by a test, runs as a roll's background
// flush and snapshot start.
var testHookRollBackground func()

// snapshotChunk is how many producer entries readProducers copies per
// hold of the partition's read lock.
const snapshotChunk = 1024

// readProducers returns the producer state for a snapshot at offset,
// reading the entries a chunk at a time so that appends wait at most for
// one chunk. Entries appended to after offset may already show those
// batches; the replay after loading skips them (producerEntry.apply).
func (p *Partition) readProducers(offset int64) snapshotFile {
	sf := snapshotFile{Version: 1, Offset: offset, Producers: map[string]producerEntry{}}
	p.mu.RLock()
	defer p.mu.RUnlock()
	n := 0
	for pid, e := range p.producers {
		sf.Producers[strconv.FormatInt(pid, 10)] = *e
		if n++; n%snapshotChunk == 0 {
			// Entries are replaced, never changed in place, and the
			// map may change between chunks: Go's range tolerates it.
			p.mu.RUnlock()
			p.mu.RLock()
		}
	}
	return sf
}

// expireProducers forgets producers that have not appended for
// producer.id.expiration.ms (Kafka's
// ProducerStateManager.removeExpiredProducers); one that comes back may
// start at any sequence (KIP-360). It returns how many were removed.
func (p *Partition) expireProducers(now time.Time, after time.Duration) int {
	cutoff := now.Add(-after).UnixMilli()
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for pid, e := range p.producers {
		if e.LastTimestamp <= cutoff && !e.InTxn { // Kafka keeps producers with an ongoing transaction
			delete(p.producers, pid)
			n++
		}
	}
	return n
}

// flushTo makes every offset below target durable with fdatasync. Callers
// that find their offsets already covered return at once; otherwise one
// caller at a time syncs everything appended so far (exact=false: group
// commit) or exactly up to target (exact=true: a rolled segment).
func (p *Partition) flushTo(target int64, exact bool) error {
	if p.flushed.Load() >= target {
		return nil
	}
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	from := p.flushed.Load()
	if from >= target {
		p.store.stats.syncsAvoided.Add(1)
		return nil
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	if p.failed != nil {
		err := p.unavailable()
		p.mu.Unlock()
		return err
	}
	upTo := target
	if !exact {
		upTo = p.hwm.Load()
		p.unflushed = 0
	}
	var segs []*segment
	var err error
	for _, s := range p.segs {
		if s.next > from && s.base < upTo && s.size > 0 {
			// Index entries go to the page cache before the log's sync.
			if ierr := s.flushIndexes(); ierr != nil {
				p.store.log.Warn("writing index entries", "segment", s.logPath, "err", ierr)
			}
			if _, err = s.acquire(); err != nil {
				break
			}
			segs = append(segs, s)
		}
	}
	p.mu.Unlock()

	newEntries := false
	for _, s := range segs {
		if err == nil {
			start := time.Now()
			err = s.sync()
			p.store.stats.observeSync(time.Since(start))
		}
		newEntries = newEntries || !s.entryDurable.Load()
	}
	// A segment created since the directory was last fsynced (a roll, a
	// new partition) is lost with its synced data if its directory entry
	// is not durable too: fsync the directory, as Kafka's LocalLog.flush
	// does for segments above the recovery point.
	if err == nil && newEntries {
		if err = fsutil.SyncDir(p.dir); err == nil {
			for _, s := range segs {
				s.entryDurable.Store(true)
			}
		}
	}
	for _, s := range segs {
		s.release()
	}
	if err != nil {
		p.mu.Lock()
		p.failed = err // after a failed fsync the page cache state is unknown (fsyncgate)
		p.mu.Unlock()
		p.store.stats.storageErrors.Add(1)
		p.store.log.Error("fdatasync failed, partition offline", "partition", p.String(), "err", err)
		return fmt.Errorf("flushing %s: %w: %w", p, err, kerr.KafkaStorageError)
	}
	if upTo > p.flushed.Load() {
		p.flushed.Store(upTo)
	}
	return nil
}

// maybeFlushByTime flushes when the oldest unflushed record is older than
// flush.ms / log.flush.interval.ms.
func (p *Partition) maybeFlushByTime(now time.Time) error {
	if p.cfg.Load().flushInterval <= 0 {
		return nil
	}
	p.mu.RLock()
	due := p.unflushed > 0 && now.Sub(p.unflushedSince) >= p.cfg.Load().flushInterval
	p.mu.RUnlock()
	if !due {
		return nil
	}
	return p.flushTo(p.hwm.Load(), false)
}

// Slice is a byte range of whole record batches in a segment file, for
// sendfile(2) with an explicit offset (unix.Sendfile(out, File.Fd(), &pos,
// size)). The file stays open until Release, even if retention or a topic
// deletion removes the segment. An empty Slice has a nil File.
type Slice struct {
	File *os.File
	Pos  int64
	Size int64
	ref  *sliceRef
}

type sliceRef struct {
	seg  *segment
	done atomic.Bool
}

// Release drops the Slice's reference to its segment file. It is safe to
// call more than once (only the first call counts) and on an empty Slice.
func (s Slice) Release() {
	if s.ref != nil && s.ref.done.CompareAndSwap(false, true) {
		s.ref.seg.release()
	}
}

// readAll copies the Slice's bytes into memory, for callers that cannot
// use sendfile (and for tests).
func (s Slice) readAll() ([]byte, error) {
	if s.Size == 0 {
		return nil, nil
	}
	b := make([]byte, s.Size)
	if _, err := s.File.ReadAt(b, s.Pos); err != nil {
		return nil, fmt.Errorf("reading %d bytes at %d of %s: %w", s.Size, s.Pos, s.File.Name(), err)
	}
	return b, nil
}

// pick returns the segment holding offset and its committed size and
// index entries (p.mu held). The entries slice can be used after unlocking:
// entries are only ever appended.
func (p *Partition) pick(offset int64) (*segment, int64, []offsetEntry) {
	i := sort.Search(len(p.segs), func(i int) bool { return p.segs[i].base > offset }) - 1
	for i = max(i, 0); i < len(p.segs); i++ {
		if s := p.segs[i]; s.next > offset && s.size > 0 {
			return s, s.size, s.index.entries
		}
	}
	return nil, 0, nil
}

// Read returns whole batches starting with the one that contains offset:
// as many as fit in maxBytes, but at least one (KIP-74). offset ==
// HighWatermark gives an empty Slice; an offset outside [LogStartOffset,
// HighWatermark] gives kerr.OffsetOutOfRange. The bytes come from one
// segment; the caller must Release the Slice.
func (p *Partition) Read(offset int64, maxBytes int32) (Slice, error) {
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return Slice{}, p.unavailableRead()
	}
	hwm, lso := p.hwm.Load(), p.lso.Load()
	if offset < lso || offset > hwm {
		p.mu.RUnlock()
		return Slice{}, fmt.Errorf("reading %s at offset %d outside [%d, %d]: %w", p, offset, lso, hwm, kerr.OffsetOutOfRange)
	}
	if offset == hwm {
		p.mu.RUnlock()
		return Slice{}, nil
	}
	seg, size, entries := p.pick(offset)
	if seg == nil {
		p.mu.RUnlock()
		return Slice{}, fmt.Errorf("reading %s at offset %d: no segment holds it: %w", p, offset, kerr.KafkaStorageError)
	}
	// A read of the tail (a consumer that keeps up) is found in memory;
	// an older offset is looked up in the index and the log's headers.
	start, end, inTail := seg.recent.span(uint32(offset-seg.base), size, maxBytes)
	_, err := seg.acquire()
	p.mu.RUnlock()
	if err != nil {
		p.store.stats.storageErrors.Add(1)
		return Slice{}, fmt.Errorf("reading %s at offset %d: %w: %w", p, offset, err, kerr.KafkaStorageError)
	}

	var sl Slice
	if inTail {
		sl = Slice{File: seg.log, Pos: start, Size: end - start, ref: &sliceRef{seg: seg}}
	} else {
		sl, err = readSegment(seg, size, entries, offset, maxBytes)
	}
	if err != nil {
		seg.release()
		p.store.stats.storageErrors.Add(1)
		return Slice{}, fmt.Errorf("reading %s at offset %d: %w: %w", p, offset, err, kerr.KafkaStorageError)
	}
	p.store.stats.reads.Add(1)
	p.store.stats.readBytes.Add(uint64(sl.Size))
	return sl, nil
}

func (p *Partition) unavailableRead() error {
	return fmt.Errorf("partition %s: %w: %w", p, ErrClosed, kerr.UnknownTopicOrPartition)
}

// readSegment finds the batch holding offset with the index and a short
// scan of 61-byte headers, then extends the range over whole batches up to
// maxBytes, jumping to the last indexed batch that fits and walking 12-byte
// headers from there.
func readSegment(seg *segment, size int64, entries []offsetEntry, offset int64, maxBytes int32) (Slice, error) {
	ix := offsetIndex{indexFile[offsetEntry]{entries: entries}}
	pos, h, err := locateBatch(seg, size, entries, offset)
	if err != nil {
		return Slice{}, err
	}
	start, end := pos, pos+h.size()
	limit := min(start+int64(max(maxBytes, 0)), size)
	if end < limit {
		if fp := int64(ix.floorPos(uint32(limit))); fp > end {
			end = fp
		}
		for end < limit {
			n, err := seg.readLength(end)
			if err != nil {
				return Slice{}, err
			}
			if end+n > limit {
				break
			}
			end += n
		}
	}
	return Slice{File: seg.log, Pos: start, Size: end - start, ref: &sliceRef{seg: seg}}, nil
}

// locateBatch finds the batch holding offset: an index lookup, then a scan
// of 61-byte headers.
func locateBatch(seg *segment, size int64, entries []offsetEntry, offset int64) (int64, batchHeader, error) {
	ix := offsetIndex{indexFile[offsetEntry]{entries: entries}}
	pos := int64(ix.lookup(uint32(offset - seg.base)))
	var buf [batchHeaderSize]byte
	for pos < size {
		h, err := seg.readHeader(pos, &buf)
		if err != nil {
			return 0, h, err
		}
		if h.lastOffset() >= offset {
			return pos, h, nil
		}
		pos += h.size()
	}
	return 0, batchHeader{}, fmt.Errorf("offset %d not found in %s", offset, seg.logPath)
}

// MaxTimestamp returns the offset and timestamp of the record with the
// largest timestamp in the log (ListOffsets with timestamp -3, KIP-734;
// the earliest such record, as Kafka answers since KAFKA-16310). ok is
// false when the log holds no timestamped record.
func (p *Partition) MaxTimestamp() (offset, timestamp int64, ok bool) {
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return -1, -1, false
	}
	var seg *segment
	for _, s := range p.segs {
		if s.size > 0 && s.maxTS >= 0 && (seg == nil || s.maxTS > seg.maxTS) {
			seg = s
		}
	}
	if seg == nil {
		p.mu.RUnlock()
		return -1, -1, false
	}
	size, entries, ts, target := seg.size, seg.index.entries, seg.maxTS, seg.base+int64(seg.maxTSRel)
	_, err := seg.acquire()
	p.mu.RUnlock()
	if err != nil {
		p.store.log.Warn("finding the batch with the largest timestamp", "partition", p.String(), "err", err)
		return -1, -1, false
	}
	defer seg.release()

	pos, h, err := locateBatch(seg, size, entries, target)
	if err != nil {
		p.store.log.Warn("finding the batch with the largest timestamp", "partition", p.String(), "err", err)
		return -1, -1, false
	}
	if off, rts, found := p.recordAtOrAfter(seg, pos, &h, ts, 0); found {
		return off, rts, true
	}
	return h.baseOffset, ts, true
}

// recordAtOrAfter reads the batch at pos and returns the first record at or
// after offset from whose timestamp is at least ts (all of a LogAppendTime
// batch's records carry its maxTimestamp).
func (p *Partition) recordAtOrAfter(seg *segment, pos int64, h *batchHeader, ts, from int64) (int64, int64, bool) {
	if h.attributes&attrLogAppendTime != 0 {
		return max(h.baseOffset, from), h.maxTimestamp, h.maxTimestamp >= ts
	}
	b := make([]byte, h.size())
	if _, err := seg.log.ReadAt(b, pos); err != nil {
		return 0, 0, false
	}
	recs := b[batchHeaderSize:]
	if codec := h.attributes & attrCompressionMask; codec != 0 {
		var err error
		if recs, err = p.store.dec.decompress(recs, codec); err != nil {
			return 0, 0, false
		}
	}
	return firstRecordAtOrAfter(recs, h, ts, from)
}

// OffsetForTimestamp returns the earliest offset at or above the log start
// offset whose record timestamp is at least ts, and that timestamp
// (ListOffsets by time; Kafka's fetchOffsetByTimestamp searches from the
// log start offset too). ok is false when no record is that new. Only the
// batches that may hold the answer are read (and decompressed).
func (p *Partition) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool) {
	// Segments are searched oldest first; one whose timestamps reach ts
	// may hold no answer at or above the log start offset (records out of
	// timestamp order), and then the next one is searched.
	last := int64(-1) // base offset of the segment searched last
	for {
		p.mu.RLock()
		if p.closed {
			p.mu.RUnlock()
			return 0, 0, false
		}
		from := p.lso.Load()
		var seg *segment
		for _, s := range p.segs {
			if s.base > last && s.maxTS >= ts && s.size > 0 && s.next > from {
				seg = s
				break
			}
		}
		if seg == nil {
			p.mu.RUnlock()
			return 0, 0, false
		}
		rel := seg.tindex.lookup(ts)
		pos := int64(seg.index.lookup(rel))
		size := seg.size
		_, err := seg.acquire()
		p.mu.RUnlock()
		if err != nil {
			p.store.log.Warn("opening a segment for a timestamp lookup", "partition", p.String(), "err", err)
			return 0, 0, false
		}
		offset, timestamp, ok = p.searchSegment(seg, pos, size, ts, from)
		seg.release()
		if ok {
			return offset, timestamp, true
		}
		last = seg.base
	}
}

// searchSegment walks seg's batch headers from pos for the first record at
// or after offset from whose timestamp is at least ts.
func (p *Partition) searchSegment(seg *segment, pos, size, ts, from int64) (int64, int64, bool) {
	var buf [batchHeaderSize]byte
	for pos < size {
		h, err := seg.readHeader(pos, &buf)
		if err != nil {
			p.store.log.Warn("reading batch header for a timestamp lookup", "partition", p.String(), "err", err)
			return 0, 0, false
		}
		if h.maxTimestamp >= ts && h.lastOffset() >= from {
			if off, rts, found := p.recordAtOrAfter(seg, pos, &h, ts, from); found {
				return off, rts, true
			}
			if h.baseOffset >= from {
				return h.baseOffset, h.maxTimestamp, true
			}
		}
		pos += h.size()
	}
	return 0, 0, false
}

// firstRecordAtOrAfter walks a batch's (decompressed) records for the
// first record at or after offset from whose timestamp is at least ts.
func firstRecordAtOrAfter(b []byte, h *batchHeader, ts, from int64) (int64, int64, bool) {
	for i := int32(0); i < h.recordCount && len(b) > 0; i++ {
		n, used, err := varint(b)
		if err != nil || n < 0 || int64(len(b)-used) < n {
			return 0, 0, false
		}
		rec := b[used : used+int(n)]
		b = b[used+int(n):]
		if len(rec) < 1 {
			return 0, 0, false
		}
		tsd, u1, err := varint(rec[1:])
		if err != nil {
			return 0, 0, false
		}
		od, _, err := varint(rec[1+u1:])
		if err != nil {
			return 0, 0, false
		}
		if rts := h.baseTimestamp + tsd; rts >= ts && h.baseOffset+od >= from {
			return h.baseOffset + od, rts, true
		}
	}
	return 0, 0, false
}

// enforceRetention deletes the oldest closed segments that are past
// retention.ms (by their largest timestamp, or the file's mtime when they
// have none) and then those that make the partition bigger than
// retention.bytes, as Kafka's UnifiedLog.deleteOldSegments does. The active
// segment is never deleted. It returns the number of segments deleted.
func (p *Partition) enforceRetention(now time.Time) int {
	p.mu.Lock()
	if p.closed || len(p.segs) < 2 {
		p.mu.Unlock()
		return 0
	}
	closedSegs := p.segs[:len(p.segs)-1]
	n := 0
	if p.cfg.Load().retention >= 0 {
		for _, s := range closedSegs {
			ts := s.maxTS
			if ts < 0 {
				ts = s.lastModified().UnixMilli()
			}
			if now.UnixMilli()-ts <= p.cfg.Load().retention.Milliseconds() {
				break
			}
			n++
		}
	}
	if p.cfg.Load().retentionBytes >= 0 {
		var total int64
		for _, s := range p.segs[n:] {
			total += s.size
		}
		diff := total - p.cfg.Load().retentionBytes
		for _, s := range closedSegs[n:] {
			if diff-s.size < 0 {
				break
			}
			diff -= s.size
			n++
		}
	}
	if n == 0 {
		p.mu.Unlock()
		return 0
	}
	del := p.dropOldest(n)
	p.mu.Unlock()
	p.removeSegments(del, "retention")
	return n
}

// dropOldest takes the n oldest segments (never the active one) out of the
// log, closes their files, moves the log start offset up to the first
// remaining segment if it is below, and forgets producers whose batches
// are all below it, as Kafka's ProducerStateManager.truncateHead does (if
// one comes back it may start at any sequence, KIP-360). p.mu is held; the
// caller removes the returned segments' files with removeSegments once it
// is released.
func (p *Partition) dropOldest(n int) []*segment {
	n = min(n, len(p.segs)-1)
	del := append([]*segment(nil), p.segs[:n]...)
	p.segs = append([]*segment(nil), p.segs[n:]...)
	lso := max(p.lso.Load(), p.segs[0].base)
	p.lso.Store(lso)
	for _, s := range del {
		s.closeFiles()
	}
	p.forgetProducersBelow(lso)
	return del
}

// forgetProducersBelow forgets the producers whose last batch ends below
// offset (p.mu held).
func (p *Partition) forgetProducersBelow(offset int64) {
	for pid, e := range p.producers {
		if n := len(e.Batches); !e.InTxn && (n == 0 || e.Batches[n-1].Last < offset) { // Kafka keeps producers with an ongoing transaction
			delete(p.producers, pid)
		}
	}
}

// removeSegments unlinks the files of segments dropOldest took out, and
// counts and logs them; why is "retention" or "log start offset".
func (p *Partition) removeSegments(del []*segment, why string) {
	for _, s := range del {
		if err := s.removeFiles(); err != nil {
			p.store.log.Warn("deleting segment", "partition", p.String(), "err", err)
		}
		p.store.stats.segmentsDeleted.Add(1)
		p.store.stats.bytesDeleted.Add(uint64(s.size))
		p.store.log.Info("deleted segment", "reason", why, "partition", p.String(), "base_offset", s.base,
			"next_offset", s.next, "bytes", s.size, "log_start_offset", p.lso.Load())
	}
}

// close marks the partition closed, wakes waiters, flushes and seals the
// active segment, writes a producer snapshot and closes the files. The log
// files of segments with unreleased Slices stay open until release. It
// returns the recovery point (the high watermark when all went well).
func (p *Partition) close() (int64, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return p.flushed.Load(), nil
	}
	p.closed = true
	p.wake(true)
	failed := p.failed
	p.mu.Unlock()

	// No append can start now; wait for an in-flight flush.
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	hwm := p.hwm.Load()
	var errs []error
	if failed != nil {
		errs = append(errs, failed)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	active := p.segs[len(p.segs)-1]
	if err := active.seal(); err != nil {
		errs = append(errs, err)
	}
	from := p.flushed.Load()
	for _, s := range p.segs {
		if failed == nil && s.next > from && s.size > 0 {
			if _, err := s.acquire(); err != nil {
				errs = append(errs, err)
				continue
			}
			if err := s.sync(); err != nil {
				errs = append(errs, err)
			}
			s.release()
		}
	}
	if err := active.syncIndexes(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		p.flushed.Store(hwm)
		if err := writeSnapshot(p.dir, hwm, p.producers); err != nil {
			errs = append(errs, err)
		} else if err := pruneSnapshots(p.dir, 3); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range p.segs {
		s.closeFiles()
	}
	return p.flushed.Load(), errors.Join(errs...)
}

// drop closes a partition whose topic is being deleted, without flushing.
func (p *Partition) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	p.wake(true)
	for _, s := range p.segs {
		s.closeFiles()
	}
}
