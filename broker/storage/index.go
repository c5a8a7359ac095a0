package storage

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
)

// Kafka's index entry sizes: OffsetIndex is relative offset (uint32) +
// position (uint32); TimeIndex is timestamp (int64) + relative offset (uint32).
const (
	offsetEntrySize = 8
	timeEntrySize   = 12
)

type offsetEntry struct {
	rel uint32 // offset - segment base
	pos uint32 // byte position of the batch in the .log file
}

type timeEntry struct {
	ts  int64
	rel uint32
}

func (offsetEntry) size() int { return offsetEntrySize }

func (e offsetEntry) appendTo(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, e.rel)
	return binary.BigEndian.AppendUint32(b, e.pos)
}

func (offsetEntry) decode(b []byte) offsetEntry {
	return offsetEntry{rel: binary.BigEndian.Uint32(b), pos: binary.BigEndian.Uint32(b[4:])}
}

func (e offsetEntry) isZero() bool { return e.rel == 0 && e.pos == 0 }

// follows reports whether e may come after prev: offsets grow strictly,
// positions never shrink.
func (e offsetEntry) follows(prev offsetEntry) bool { return e.rel > prev.rel && e.pos >= prev.pos }

func (timeEntry) size() int { return timeEntrySize }

func (e timeEntry) appendTo(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(e.ts))
	return binary.BigEndian.AppendUint32(b, e.rel)
}

func (timeEntry) decode(b []byte) timeEntry {
	return timeEntry{ts: int64(binary.BigEndian.Uint64(b)), rel: binary.BigEndian.Uint32(b[8:])}
}

func (e timeEntry) isZero() bool { return e.ts == 0 && e.rel == 0 }

// follows reports whether e may come after prev: timestamps grow strictly,
// offsets never shrink.
func (e timeEntry) follows(prev timeEntry) bool { return e.ts > prev.ts && e.rel >= prev.rel }

// indexEntry is what an index file holds: a fixed-size big-endian record
// that orders itself against the entry before it.
type indexEntry[E any] interface {
	size() int
	appendTo(b []byte) []byte
	decode(b []byte) E
	isZero() bool
	follows(prev E) bool
}

// indexFile is the part the offset and time indexes share: entries in
// memory, where lookups read them; the ones not yet in the file are written
// with one pwrite(2) when the segment is flushed (before its fdatasync),
// rolls or closes, so an append costs no index syscall (Kafka memory-maps
// its indexes to the same end). The file is preallocated (sparse) to the
// maximum size while the segment is active and trimmed to its entries when
// the segment rolls or closes, like Kafka's AbstractIndex. Only the active
// segment keeps the file open. After a crash the file holds a valid prefix
// of the entries (recovery rebuilds the rest from the log). The owning
// partition's lock guards it.
type indexFile[E indexEntry[E]] struct {
	f       *os.File // nil when closed
	path    string
	entries []E
	written int // entries[:written] are in the file
	max     int // entries that fit in log.index.size.max.bytes
}

// offsetIndex is a segment's sparse .index: one entry per
// log.index.interval.bytes, mapping the last offset of a batch to the
// batch's position.
type offsetIndex struct{ indexFile[offsetEntry] }

// timeIndex is a segment's .timeindex: entries whose timestamp grows
// strictly, each the largest timestamp so far and the offset it was seen
// at.
type timeIndex struct{ indexFile[timeEntry] }

// ensureOpen opens the index file for writing if it is closed.
func ensureOpen(f **os.File, path string) error {
	if *f != nil {
		return nil
	}
	nf, err := openIndexFile(path)
	if err != nil {
		return err
	}
	*f = nf
	return nil
}

// closeIndexFile closes an index file if it is open.
func closeIndexFile(f **os.File) error {
	if *f == nil {
		return nil
	}
	err := (*f).Close()
	*f = nil
	return err
}

func openIndexFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening index %s: %w", path, err)
	}
	return f, nil
}

// indexReadChunk is how much of an index file is read at a time: a
// multiple of both entry sizes (8 and 12).
const indexReadChunk = 96 << 10

// indexBufs holds indexReadChunk buffers for readEntries: a start-up opens
// two indexes per segment.
var indexBufs = sync.Pool{New: func() any { b := make([]byte, indexReadChunk); return &b }}

// readEntries calls fn with each size-byte entry of f, in order, until fn
// returns false or the file ends. It reads the file a chunk at a time and
// stops reading when fn stops: the active segment's indexes are
// preallocated (sparse) to log.index.size.max.bytes, 10 MiB by default, and
// after a crash only their first entries are used; reading the zero tail
// of every partition's two indexes made recovery read and allocate 20 MiB
// per partition.
func readEntries(f *os.File, size int, fn func(e []byte) bool) error {
	bp := indexBufs.Get().(*[]byte)
	defer indexBufs.Put(bp)
	// Start small (most crashed active indexes hold a few entries) and
	// double up to the whole buffer; every size is a multiple of 24.
	chunk := indexReadChunk / 8
	var off int64
	for {
		buf := (*bp)[:chunk]
		chunk = min(2*chunk, indexReadChunk)
		n, err := f.ReadAt(buf, off)
		n -= n % size
		for i := 0; i < n; i += size {
			if !fn(buf[i : i+size]) {
				return nil
			}
		}
		off += int64(n)
		if err == io.EOF || (err == nil && n == 0) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading index %s: %w", f.Name(), err)
		}
	}
}

// openIndex opens or creates an index file and keeps the valid prefix of
// its entries: each must follow the one before it, an all-zero entry (the
// preallocated tail left by a crash) ends them, and so does the first
// entry keep rejects.
func openIndex[E indexEntry[E]](path string, maxBytes int32, keep func(E) bool) (indexFile[E], error) {
	var zero E
	ix := indexFile[E]{path: path, max: int(maxBytes) / zero.size()}
	f, err := openIndexFile(path)
	if err != nil {
		return ix, err
	}
	defer f.Close()
	err = readEntries(f, zero.size(), func(b []byte) bool {
		e := zero.decode(b)
		if e.isZero() {
			return false
		}
		if n := len(ix.entries); n > 0 && !e.follows(ix.entries[n-1]) {
			return false
		}
		if !keep(e) {
			return false
		}
		ix.entries = append(ix.entries, e)
		return true
	})
	if err != nil {
		return ix, err
	}
	ix.written = len(ix.entries)
	return ix, nil
}

// openOffsetIndex opens or creates an offset index (see openIndex).
// logSize drops entries that point past the end of the log.
func openOffsetIndex(path string, maxBytes int32, logSize int64) (*offsetIndex, error) {
	ix, err := openIndex(path, maxBytes, func(e offsetEntry) bool { return int64(e.pos) < logSize })
	if err != nil {
		return nil, err
	}
	return &offsetIndex{ix}, nil
}

// openTimeIndex opens or creates a time index (see openIndex). maxRel
// drops entries past the last offset of the log.
func openTimeIndex(path string, maxBytes int32, maxRel uint32) (*timeIndex, error) {
	ix, err := openIndex(path, maxBytes, func(e timeEntry) bool { return e.rel <= maxRel })
	if err != nil {
		return nil, err
	}
	return &timeIndex{ix}, nil
}

func (ix *indexFile[E]) full() bool { return len(ix.entries) >= ix.max }

func (ix *indexFile[E]) last() (E, bool) {
	if len(ix.entries) == 0 {
		var zero E
		return zero, false
	}
	return ix.entries[len(ix.entries)-1], true
}

// flush writes the entries not yet in the file with one pwrite(2). A
// failed write (a full disk) leaves them for the next flush: the file
// keeps a valid prefix and lookups use memory.
func (ix *indexFile[E]) flush() error {
	if ix.written >= len(ix.entries) {
		return nil
	}
	if err := ensureOpen(&ix.f, ix.path); err != nil {
		return err
	}
	var zero E
	b := make([]byte, 0, (len(ix.entries)-ix.written)*zero.size())
	for _, e := range ix.entries[ix.written:] {
		b = e.appendTo(b)
	}
	if _, err := ix.f.WriteAt(b, int64(ix.written*zero.size())); err != nil {
		return fmt.Errorf("writing index entries to %s: %w", ix.path, err)
	}
	ix.written = len(ix.entries)
	return nil
}

// reset drops every entry (before a rebuild).
func (ix *indexFile[E]) reset() { ix.entries, ix.written = ix.entries[:0], 0 }

// preallocate opens the file and sizes it to its maximum (sparse, like
// Kafka's RandomAccessFile.setLength), for the active segment.
func (ix *indexFile[E]) preallocate() error {
	if err := ensureOpen(&ix.f, ix.path); err != nil {
		return err
	}
	var zero E
	if err := ix.f.Truncate(int64(ix.max * zero.size())); err != nil {
		return fmt.Errorf("preallocating index %s: %w", ix.path, err)
	}
	return nil
}

// trim writes what is pending and cuts the file to its entries (roll,
// close).
func (ix *indexFile[E]) trim() error {
	if err := ix.flush(); err != nil {
		return err
	}
	if err := ensureOpen(&ix.f, ix.path); err != nil {
		return err
	}
	var zero E
	if err := ix.f.Truncate(int64(len(ix.entries) * zero.size())); err != nil {
		return fmt.Errorf("trimming index %s: %w", ix.path, err)
	}
	return nil
}

// rewrite writes every in-memory entry to the file (after a rebuild).
func (ix *indexFile[E]) rewrite() error {
	var zero E
	b := make([]byte, 0, len(ix.entries)*zero.size())
	for _, e := range ix.entries {
		b = e.appendTo(b)
	}
	if err := ensureOpen(&ix.f, ix.path); err != nil {
		return err
	}
	if err := ix.f.Truncate(0); err != nil {
		return fmt.Errorf("rewriting index %s: %w", ix.path, err)
	}
	if _, err := ix.f.WriteAt(b, 0); err != nil {
		return fmt.Errorf("rewriting index %s: %w", ix.path, err)
	}
	ix.written = len(ix.entries)
	return nil
}

// add adds an entry in memory; flush writes it. It reports whether the
// entry was added.
func (ix *offsetIndex) add(rel uint32, pos uint32) bool {
	if ix.full() {
		return false
	}
	if n := len(ix.entries); n > 0 && rel <= ix.entries[n-1].rel {
		return false
	}
	ix.entries = append(ix.entries, offsetEntry{rel: rel, pos: pos})
	return true
}

// lookup returns the position to start scanning from for rel: the entry
// with the largest offset <= rel, or 0.
func (ix *offsetIndex) lookup(rel uint32) uint32 {
	i := sort.Search(len(ix.entries), func(i int) bool { return ix.entries[i].rel > rel })
	if i == 0 {
		return 0
	}
	return ix.entries[i-1].pos
}

// floorPos returns the last indexed batch position <= pos, or 0.
func (ix *offsetIndex) floorPos(pos uint32) uint32 {
	i := sort.Search(len(ix.entries), func(i int) bool { return ix.entries[i].pos > pos })
	if i == 0 {
		return 0
	}
	return ix.entries[i-1].pos
}

// maybeAdd adds (ts, rel) in memory if ts is larger than the last
// entry's (Kafka's TimeIndex.maybeAppend). force ignores fullness (the
// final entry added when the segment becomes inactive).
func (ix *timeIndex) maybeAdd(ts int64, rel uint32, force bool) {
	if ts < 0 || (!force && ix.full()) {
		return
	}
	e := timeEntry{ts: ts, rel: rel}
	if last, ok := ix.last(); ok && !e.follows(last) {
		return
	}
	ix.entries = append(ix.entries, e)
}

// lookup returns the relative offset to start a timestamp search at: that
// of the last entry whose timestamp is below ts, or 0.
func (ix *timeIndex) lookup(ts int64) uint32 {
	i := sort.Search(len(ix.entries), func(i int) bool { return ix.entries[i].ts >= ts })
	if i == 0 {
		return 0
	}
	return ix.entries[i-1].rel
}

// tailBatches is how many of the active segment's latest batches
// recentBatches remembers: 256 x 8 bytes = 2 KiB per active segment. A
// consumer that keeps up (it fetches again before 256 more batches arrive,
// 15 ms of franz-go's linger-0 batches at 17,000 Produce/s) finds its
// whole read there; an older offset falls back to the index and preads.
const tailBatches = 256

// recentBatches remembers the position and last offset of the active
// segment's latest batches, so that a Fetch of the tail of the log finds
// its start and its whole-batch end without reading a batch header
// (Kafka reads them from the log with FileChannel reads; its index only
// narrows the scan). It is a ring of the last tailBatches batches, which
// lie back to back in the log up to the segment's committed size. The
// owning partition's lock guards it; a sealed segment drops it.
type recentBatches struct {
	ring  []tailEntry // len tailBatches once the first batch is added
	head  int         // index of the oldest entry
	n     int         // entries in use
	first uint32      // first offset (relative) of the oldest entry's batch
}

type tailEntry struct {
	last uint32 // last offset of the batch, relative to the segment base
	pos  uint32 // position of the batch in the .log file
}

// add remembers a batch appended at pos with offsets [firstRel, lastRel].
func (t *recentBatches) add(firstRel, lastRel, pos uint32) {
	if t.ring == nil {
		t.ring = make([]tailEntry, tailBatches)
	}
	if t.n == 0 {
		t.first = firstRel
	}
	if t.n == len(t.ring) {
		t.first = t.ring[t.head].last + 1
		t.head = (t.head + 1) % len(t.ring)
		t.n--
	}
	t.ring[(t.head+t.n)%len(t.ring)] = tailEntry{last: lastRel, pos: pos}
	t.n++
}

// at returns the i-th oldest entry.
func (t *recentBatches) at(i int) tailEntry { return t.ring[(t.head+i)%len(t.ring)] }

// end returns where the i-th oldest batch ends: the next one's position,
// or size (the segment's committed size) for the newest.
func (t *recentBatches) end(i int, size int64) int64 {
	if i+1 < t.n {
		return int64(t.at(i + 1).pos)
	}
	return size
}

// span returns the byte range [start, end) of the whole batches from the
// one holding rel, as many as fit in maxBytes but at least one, as
// readSegment would find it; ok is false when rel is older than the
// batches remembered.
func (t *recentBatches) span(rel uint32, size int64, maxBytes int32) (start, end int64, ok bool) {
	if t.n == 0 || rel < t.first || rel > t.at(t.n-1).last {
		return 0, 0, false
	}
	i := sort.Search(t.n, func(i int) bool { return t.at(i).last >= rel })
	start = int64(t.at(i).pos)
	limit := min(start+int64(max(maxBytes, 0)), size)
	// The last batch from i on that ends within limit, else batch i alone.
	j := i + sort.Search(t.n-i, func(k int) bool { return t.end(i+k, size) > limit }) - 1
	return start, t.end(max(i, j), size), true
}

// reset forgets every batch (a sealed segment's memory goes back).
func (t *recentBatches) reset() { *t = recentBatches{} }
