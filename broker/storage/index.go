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

// offsetIndex is a segment's sparse .index: one entry per
// log.index.interval.bytes, mapping the last offset of a batch to the
// batch's position. Entries live in memory, where lookups read them; the
// ones not yet in the file are written with one pwrite(2) when the segment
// is flushed (before its fdatasync), rolls or closes, so an append costs no
// index syscall (Kafka memory-maps its indexes to the same end). The file
// is preallocated (sparse) to the maximum size while the segment is active
// and trimmed to its entries when the segment rolls or closes, like
// Kafka's AbstractIndex. Only the active segment keeps the file open. After
// a crash the file holds a valid prefix of the entries (recovery rebuilds
// the rest from the log). The owning partition's lock guards it.
type offsetIndex struct {
	f       *os.File // nil when closed
	path    string
	entries []offsetEntry
	written int // entries[:written] are in the file
	max     int // entries that fit in log.index.size.max.bytes
}

// timeIndex is a segment's .timeindex: entries whose timestamp grows
// strictly, each the largest timestamp so far and the offset it was seen
// at; kept and written like offsetIndex.
type timeIndex struct {
	f       *os.File
	path    string
	entries []timeEntry
	written int
	max     int
}

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

// openOffsetIndex opens or creates an offset index. It keeps the valid
// prefix of the file's entries: entries must grow strictly, and an all-zero
// entry (the preallocated tail left by a crash) ends them. logSize drops
// entries that point past the end of the log.
func openOffsetIndex(path string, maxBytes int32, logSize int64) (*offsetIndex, error) {
	f, err := openIndexFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ix := &offsetIndex{path: path, max: int(maxBytes) / offsetEntrySize}
	err = readEntries(f, offsetEntrySize, func(b []byte) bool {
		e := offsetEntry{rel: binary.BigEndian.Uint32(b), pos: binary.BigEndian.Uint32(b[4:])}
		if e.rel == 0 && e.pos == 0 {
			return false
		}
		if n := len(ix.entries); n > 0 && (e.rel <= ix.entries[n-1].rel || e.pos < ix.entries[n-1].pos) {
			return false
		}
		if int64(e.pos) >= logSize {
			return false
		}
		ix.entries = append(ix.entries, e)
		return true
	})
	if err != nil {
		return nil, err
	}
	ix.written = len(ix.entries)
	return ix, nil
}

func (ix *offsetIndex) full() bool { return len(ix.entries) >= ix.max }

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

// flush writes the entries not yet in the file with one pwrite(2). A
// failed write (a full disk) leaves them for the next flush: the file
// keeps a valid prefix and lookups use memory.
func (ix *offsetIndex) flush() error {
	if ix.written >= len(ix.entries) {
		return nil
	}
	if err := ensureOpen(&ix.f, ix.path); err != nil {
		return err
	}
	b := make([]byte, 0, (len(ix.entries)-ix.written)*offsetEntrySize)
	for _, e := range ix.entries[ix.written:] {
		b = binary.BigEndian.AppendUint32(b, e.rel)
		b = binary.BigEndian.AppendUint32(b, e.pos)
	}
	if _, err := ix.f.WriteAt(b, int64(ix.written)*offsetEntrySize); err != nil {
		return fmt.Errorf("writing index entries to %s: %w", ix.path, err)
	}
	ix.written = len(ix.entries)
	return nil
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

// reset drops every entry (before a rebuild).
func (ix *offsetIndex) reset() { ix.entries, ix.written = ix.entries[:0], 0 }

// preallocate opens the file and sizes it to its maximum (sparse, like
// Kafka's RandomAccessFile.setLength), for the active segment.
func (ix *offsetIndex) preallocate() error {
	if err := ensureOpen(&ix.f, ix.path); err != nil {
		return err
	}
	if err := ix.f.Truncate(int64(ix.max) * offsetEntrySize); err != nil {
		return fmt.Errorf("preallocating index %s: %w", ix.path, err)
	}
	return nil
}

// trim writes what is pending and cuts the file to its entries (roll,
// close).
func (ix *offsetIndex) trim() error {
	if err := ix.flush(); err != nil {
		return err
	}
	if err := ensureOpen(&ix.f, ix.path); err != nil {
		return err
	}
	if err := ix.f.Truncate(int64(len(ix.entries)) * offsetEntrySize); err != nil {
		return fmt.Errorf("trimming index %s: %w", ix.path, err)
	}
	return nil
}

// rewrite writes every in-memory entry to the file (after a rebuild).
func (ix *offsetIndex) rewrite() error {
	b := make([]byte, len(ix.entries)*offsetEntrySize)
	for i, e := range ix.entries {
		binary.BigEndian.PutUint32(b[i*offsetEntrySize:], e.rel)
		binary.BigEndian.PutUint32(b[i*offsetEntrySize+4:], e.pos)
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

// openTimeIndex opens or creates a time index, keeping the valid prefix of
// its entries (timestamps grow strictly, offsets never shrink).
func openTimeIndex(path string, maxBytes int32, maxRel uint32) (*timeIndex, error) {
	f, err := openIndexFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ix := &timeIndex{path: path, max: int(maxBytes) / timeEntrySize}
	err = readEntries(f, timeEntrySize, func(b []byte) bool {
		e := timeEntry{ts: int64(binary.BigEndian.Uint64(b)), rel: binary.BigEndian.Uint32(b[8:])}
		if e.ts == 0 && e.rel == 0 {
			return false
		}
		if n := len(ix.entries); n > 0 && (e.ts <= ix.entries[n-1].ts || e.rel < ix.entries[n-1].rel) {
			return false
		}
		if e.rel > maxRel {
			return false
		}
		ix.entries = append(ix.entries, e)
		return true
	})
	if err != nil {
		return nil, err
	}
	ix.written = len(ix.entries)
	return ix, nil
}

func (ix *timeIndex) full() bool { return len(ix.entries) >= ix.max }

func (ix *timeIndex) last() (timeEntry, bool) {
	if len(ix.entries) == 0 {
		return timeEntry{}, false
	}
	return ix.entries[len(ix.entries)-1], true
}

// maybeAdd adds (ts, rel) in memory if ts is larger than the last
// entry's (Kafka's TimeIndex.maybeAppend). force ignores fullness (the
// final entry added when the segment becomes inactive).
func (ix *timeIndex) maybeAdd(ts int64, rel uint32, force bool) {
	if ts < 0 || (!force && ix.full()) {
		return
	}
	if n := len(ix.entries); n > 0 && (ts <= ix.entries[n-1].ts || rel < ix.entries[n-1].rel) {
		return
	}
	ix.entries = append(ix.entries, timeEntry{ts: ts, rel: rel})
}

// flush writes the entries not yet in the file with one pwrite(2).
func (ix *timeIndex) flush() error {
	if ix.written >= len(ix.entries) {
		return nil
	}
	if err := ensureOpen(&ix.f, ix.path); err != nil {
		return err
	}
	b := make([]byte, 0, (len(ix.entries)-ix.written)*timeEntrySize)
	for _, e := range ix.entries[ix.written:] {
		b = binary.BigEndian.AppendUint64(b, uint64(e.ts))
		b = binary.BigEndian.AppendUint32(b, e.rel)
	}
	if _, err := ix.f.WriteAt(b, int64(ix.written)*timeEntrySize); err != nil {
		return fmt.Errorf("writing time index entries to %s: %w", ix.path, err)
	}
	ix.written = len(ix.entries)
	return nil
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

func (ix *timeIndex) reset() { ix.entries, ix.written = ix.entries[:0], 0 }

func (ix *timeIndex) preallocate() error {
	if err := ensureOpen(&ix.f, ix.path); err != nil {
		return err
	}
	if err := ix.f.Truncate(int64(ix.max) * timeEntrySize); err != nil {
		return fmt.Errorf("preallocating time index %s: %w", ix.path, err)
	}
	return nil
}

func (ix *timeIndex) trim() error {
	if err := ix.flush(); err != nil {
		return err
	}
	if err := ensureOpen(&ix.f, ix.path); err != nil {
		return err
	}
	if err := ix.f.Truncate(int64(len(ix.entries)) * timeEntrySize); err != nil {
		return fmt.Errorf("trimming time index %s: %w", ix.path, err)
	}
	return nil
}

func (ix *timeIndex) rewrite() error {
	b := make([]byte, len(ix.entries)*timeEntrySize)
	for i, e := range ix.entries {
		binary.BigEndian.PutUint64(b[i*timeEntrySize:], uint64(e.ts))
		binary.BigEndian.PutUint32(b[i*timeEntrySize+8:], e.rel)
	}
	if err := ensureOpen(&ix.f, ix.path); err != nil {
		return err
	}
	if err := ix.f.Truncate(0); err != nil {
		return fmt.Errorf("rewriting time index %s: %w", ix.path, err)
	}
	if _, err := ix.f.WriteAt(b, 0); err != nil {
		return fmt.Errorf("rewriting time index %s: %w", ix.path, err)
	}
	ix.written = len(ix.entries)
	return nil
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
