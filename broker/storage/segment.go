package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// File name suffixes of Kafka's log layout (LogFileUtils).
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	snapshotSuffix  = ".snapshot"
)

// segmentName is Kafka's file name for a segment: the base offset as 20
// zero-padded digits (LogFileUtils.filenamePrefixFromOffset).
func segmentName(base int64, suffix string) string {
	return fmt.Sprintf("%020d%s", base, suffix)
}

// segment is one <base>.log with its .index and .timeindex. Every field
// except the file fields (fmu) is guarded by the owning partition's mu;
// bytes below size are immutable, so readers holding the file pread them
// without a lock.
//
// File descriptors: the active segment keeps its log and both index files
// open (pinned). Once a segment is sealed its indexes are served from
// memory and their files closed, and its log file is open only while
// someone holds it (acquire/release: a Fetch's Slice, a flush, a
// timestamp lookup): a partition holds three descriptors plus one per
// read in flight, however many segments it has (Kafka keeps every
// segment open; tiny segments then exhaust the descriptor limit).
type segment struct {
	base    int64
	logPath string
	index   *offsetIndex
	tindex  *timeIndex
	recent  recentBatches // the active segment's latest batches, for tail reads

	size            int64  // committed bytes
	next            int64  // offset after the last batch
	maxTS           int64  // largest batch maxTimestamp, -1 if none
	maxTSRel        uint32 // last offset (relative) of the batch holding maxTS
	bytesSinceIndex int64  // bytes appended since the last index entry
	// alloc is the end of the space fallocated for the active segment's
	// next appends, allocStep the size of the next step (prealloc.go);
	// alloc < 0: a fallocate failed, the segment appends without.
	alloc, allocStep int64
	created          time.Time // when the segment was created or loaded: log.roll.ms counts from here
	closed           bool      // the owner let go (deleted, or the partition closed)
	// aborted holds the entries of the segment's .txnindex: transactions
	// aborted by a marker in this segment, by marker offset (txn.go).
	aborted []AbortedTxn

	// entryDurable says the segment's directory entry survives a power
	// cut: it was found on disk at load, or the partition directory was
	// fsynced after it was created (flushTo).
	entryDurable atomic.Bool

	// fmu guards log, users, pinned and gone. log is open while the
	// segment is pinned (active) or used; holders of a use may read the
	// log field without fmu.
	fmu    sync.Mutex
	log    *os.File // O_APPEND: writes go through the page cache with write(2)
	users  int
	pinned bool
	gone   bool // deleted or its partition closed: never reopened
}

// acquire returns the open log file, opening it if needed, and counts a
// use; the caller must call release.
func (s *segment) acquire() (*os.File, error) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if s.log == nil {
		if s.gone {
			return nil, fmt.Errorf("opening segment %s: %w", s.logPath, ErrClosed)
		}
		f, err := openRegular(s.logPath, os.O_RDWR|os.O_APPEND)
		if err != nil {
			return nil, fmt.Errorf("opening segment %s: %w", s.logPath, err)
		}
		s.log = f
		if testHookSegmentOpened != nil {
			testHookSegmentOpened()
		}
	}
	s.users++
	return s.log, nil
}

// openRegular opens an existing regular file with open(2) and wraps it
// with os.NewFile. os.OpenFile would also offer the descriptor to Go's
// network poller, which refuses regular files: four fcntl(2) calls and a
// failed epoll_ctl(2) each time a Fetch reopens a sealed segment.
func openRegular(path string, flag int) (*os.File, error) {
	for {
		fd, err := unix.Open(path, flag|unix.O_CLOEXEC, 0)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}

// testHookSegmentOpened, when set by a test, runs each time a segment's
// log file is reopened.
var testHookSegmentOpened func()

// release ends a use; the file closes when no one uses it and the segment
// is not pinned.
func (s *segment) release() {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.users--
	s.closeIdle()
}

// pin keeps the log file open (the active segment) from now on.
func (s *segment) pin() error {
	if _, err := s.acquire(); err != nil {
		return err
	}
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.users--
	s.pinned = true
	return nil
}

// unpin lets the log file close once no one uses it.
func (s *segment) unpin() {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.pinned = false
	s.closeIdle()
}

func (s *segment) closeIdle() {
	if s.users == 0 && !s.pinned && s.log != nil {
		s.log.Close()
		s.log = nil
	}
}

// createSegment creates an empty active segment at base in dir.
func createSegment(dir string, base int64, maxIndexBytes int32, now time.Time) (*segment, error) {
	logPath := filepath.Join(dir, segmentName(base, logSuffix))
	f, err := os.OpenFile(logPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("creating segment %s: %w", logPath, err)
	}
	s := &segment{base: base, logPath: logPath, log: f, pinned: true, next: base, maxTS: -1, created: now}
	// Stale index files from an earlier life of this base offset are
	// removed first so they cannot be mistaken for entries.
	os.Remove(filepath.Join(dir, segmentName(base, indexSuffix)))
	os.Remove(filepath.Join(dir, segmentName(base, timeIndexSuffix)))
	os.Remove(filepath.Join(dir, segmentName(base, txnIndexSuffix)))
	if err := s.openIndexes(dir, maxIndexBytes); err != nil {
		f.Close()
		os.Remove(logPath)
		return nil, err
	}
	if err := s.preallocate(); err != nil {
		s.closeFiles()
		s.removeFiles()
		return nil, err
	}
	return s, nil
}

// openSegment reads an existing segment's size and index entries; its
// files are closed (acquire opens the log, pin keeps it open). It does
// not scan the log; call loadTail (trusting the indexes) or recover
// (checking every batch).
func openSegment(dir string, base int64, maxIndexBytes int32, now time.Time) (*segment, error) {
	logPath := filepath.Join(dir, segmentName(base, logSuffix))
	fi, err := os.Stat(logPath)
	if err != nil {
		return nil, fmt.Errorf("opening segment %s: %w", logPath, err)
	}
	s := &segment{base: base, logPath: logPath, size: fi.Size(), next: base, maxTS: -1, created: now}
	s.entryDurable.Store(true) // found on disk
	if err := s.openIndexes(dir, maxIndexBytes); err != nil {
		return nil, err
	}
	return s, nil
}

// openIndexes reads both index files (and closes them).
func (s *segment) openIndexes(dir string, maxIndexBytes int32) error {
	ix, err := openOffsetIndex(filepath.Join(dir, segmentName(s.base, indexSuffix)), maxIndexBytes, s.size)
	if err != nil {
		return err
	}
	tix, err := openTimeIndex(filepath.Join(dir, segmentName(s.base, timeIndexSuffix)), maxIndexBytes, ^uint32(0))
	if err != nil {
		return err
	}
	s.index, s.tindex = ix, tix
	return nil
}

// preallocate opens both index files and sizes them for an active segment.
func (s *segment) preallocate() error {
	if err := s.index.preallocate(); err != nil {
		return err
	}
	return s.tindex.preallocate()
}

// closeIndexes closes both index files (their entries stay in memory).
func (s *segment) closeIndexes() error {
	return errors.Join(closeIndexFile(&s.index.f), closeIndexFile(&s.tindex.f))
}

// closeFiles closes the indexes and lets go of the log: it closes when
// its last user releases it, and is never reopened.
func (s *segment) closeFiles() {
	if s.closed {
		return
	}
	s.closed = true
	s.closeIndexes()
	s.fmu.Lock()
	s.gone = true
	s.fmu.Unlock()
	s.unpin()
}

// readHeader preads the 61-byte batch header at pos (the caller holds a
// use of the log file).
func (s *segment) readHeader(pos int64, buf *[batchHeaderSize]byte) (batchHeader, error) {
	if _, err := s.log.ReadAt(buf[:], pos); err != nil {
		return batchHeader{}, fmt.Errorf("reading batch header at %d of %s: %w", pos, s.logPath, err)
	}
	h := parseHeader(buf[:])
	if h.length < batchHeaderSize-logOverhead {
		return h, fmt.Errorf("reading batch header at %d of %s: bad batch length %d", pos, s.logPath, h.length)
	}
	return h, nil
}

// readLength preads the 12-byte log overhead at pos and returns the size of
// the batch there.
func (s *segment) readLength(pos int64) (int64, error) {
	var b [logOverhead]byte
	if _, err := s.log.ReadAt(b[:], pos); err != nil {
		return 0, fmt.Errorf("reading batch length at %d of %s: %w", pos, s.logPath, err)
	}
	n := int64(int32(binary.BigEndian.Uint32(b[offLength:])))
	if n < batchHeaderSize-logOverhead {
		return 0, fmt.Errorf("reading batch length at %d of %s: bad batch length %d", pos, s.logPath, n)
	}
	return n + logOverhead, nil
}

// loadTail sets next, maxTS and bytesSinceIndex of a segment whose batches
// are trusted (clean shutdown, or below the recovery point) by reading the
// headers after the last index entry.
func (s *segment) loadTail() error {
	if _, err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	if e, ok := s.tindex.last(); ok {
		s.maxTS, s.maxTSRel = e.ts, e.rel
	}
	var pos int64
	if n := len(s.index.entries); n > 0 {
		pos = int64(s.index.entries[n-1].pos)
	}
	var buf [batchHeaderSize]byte
	for pos < s.size {
		h, err := s.readHeader(pos, &buf)
		if err != nil {
			return err
		}
		s.noteBatch(&h)
		pos += h.size()
	}
	if pos != s.size {
		return fmt.Errorf("loading segment %s: last batch ends at %d past the file's %d bytes", s.logPath, pos, s.size)
	}
	return nil
}

// noteBatch updates next and the max timestamp for a batch in the segment.
func (s *segment) noteBatch(h *batchHeader) {
	s.next = h.lastOffset() + 1
	if h.maxTimestamp > s.maxTS {
		s.maxTS, s.maxTSRel = h.maxTimestamp, uint32(h.lastOffset()-s.base)
	}
}

// indexBatch adds index entries for a batch appended at pos, as Kafka's
// LogSegment.append does: an entry once more than interval bytes were
// appended since the last one, in memory (flushIndexes writes them).
func (s *segment) indexBatch(h *batchHeader, pos int64, interval int32) {
	if s.bytesSinceIndex > int64(interval) {
		rel := uint32(h.lastOffset() - s.base)
		if s.index.add(rel, uint32(pos)) {
			s.tindex.maybeAdd(s.maxTS, s.maxTSRel, false)
		}
		s.bytesSinceIndex = 0
	}
	s.bytesSinceIndex += h.size()
}

// errTorn marks the first batch of a segment that cannot be trusted.
var errTorn = errors.New("torn or corrupt batch")

// recoverSegment reads every batch, checks its CRC, rebuilds both indexes
// and truncates the log at the first invalid batch (Kafka's
// LogSegment.recover). It returns the bytes cut and why; a tail of zero
// bytes is cut with a nil reason, the end of the log rather than damage.
// onBatch sees every valid batch header in order.
func (s *segment) recoverSegment(interval int32, onBatch func(*batchHeader)) (cut int64, reason error, err error) {
	if _, err := s.acquire(); err != nil {
		return 0, nil, err
	}
	defer s.release()
	s.index.reset()
	s.tindex.reset()
	s.next, s.maxTS, s.maxTSRel, s.bytesSinceIndex = s.base, -1, 0, 0
	r := io.NewSectionReader(s.log, 0, s.size)
	var (
		pos int64
		hdr [logOverhead]byte
		buf []byte
	)
	for pos < s.size {
		if _, err := r.ReadAt(hdr[:], pos); err != nil {
			reason = fmt.Errorf("%w: %d bytes left at %d, fewer than a batch header", errTorn, s.size-pos, pos)
			break
		}
		size := int64(int32(binary.BigEndian.Uint32(hdr[offLength:]))) + logOverhead
		if size < batchHeaderSize || pos+size > s.size {
			reason = fmt.Errorf("%w: batch at %d claims %d bytes, %d left", errTorn, pos, size, s.size-pos)
			break
		}
		if int64(cap(buf)) < size {
			buf = make([]byte, size)
		}
		b := buf[:size]
		if _, err := r.ReadAt(b, pos); err != nil {
			return 0, nil, fmt.Errorf("recovering %s: reading batch at %d: %w", s.logPath, pos, err)
		}
		h, cerr := checkStoredBatch(b)
		if cerr == nil && h.baseOffset < s.next {
			cerr = fmt.Errorf("base offset %d below the expected %d", h.baseOffset, s.next)
		}
		if cerr != nil {
			reason = fmt.Errorf("%w: batch at %d: %w", errTorn, pos, cerr)
			break
		}
		s.noteBatch(&h)
		s.indexBatch(&h, pos, interval)
		if onBatch != nil {
			onBatch(&h)
		}
		pos += size
	}
	if reason != nil {
		// Zeros from pos on are space whose size reached the disk before
		// its data (prealloc.go): the end of the log, not damage.
		zero, err := zeroTail(s.log, pos, s.size)
		if err != nil {
			return 0, nil, fmt.Errorf("recovering %s: %w", s.logPath, err)
		}
		if zero {
			reason = nil
		}
	}
	if pos < s.size {
		cut = s.size - pos
		if err := s.log.Truncate(pos); err != nil {
			return 0, reason, fmt.Errorf("recovering %s: truncating to %d: %w", s.logPath, pos, err)
		}
		s.size = pos
	}
	if err := s.index.rewrite(); err != nil {
		return cut, reason, err
	}
	if err := s.tindex.rewrite(); err != nil {
		return cut, reason, err
	}
	return cut, reason, s.closeIndexes()
}

// seal prepares a segment that stops being active: the final time index
// entry (Kafka's onBecomeInactiveSegment), every entry written, the index
// files trimmed and the log's preallocated space given back.
func (s *segment) seal() error {
	s.recent.reset()
	if s.maxTS >= 0 {
		s.tindex.maybeAdd(s.maxTS, s.maxTSRel, true)
	}
	return errors.Join(s.trimSpace(), s.index.trim(), s.tindex.trim())
}

// flushIndexes writes the index entries not yet in the files (partition
// lock held), before the log is synced.
func (s *segment) flushIndexes() error {
	return errors.Join(s.index.flush(), s.tindex.flush())
}

// sync fdatasyncs the log (the caller holds a use of it). Indexes are not
// synced here: recovery rebuilds them after the recovery point and keeps
// only their valid prefix before it.
func (s *segment) sync() error {
	if err := fdatasync(s.log); err != nil {
		return fmt.Errorf("syncing %s: %w", s.logPath, err)
	}
	return nil
}

// syncIndexes fdatasyncs both index files of the active segment (on close).
func (s *segment) syncIndexes() error {
	var errs []error
	for _, f := range []*os.File{s.index.f, s.tindex.f} {
		if f != nil {
			errs = append(errs, fdatasync(f))
		}
	}
	return errors.Join(errs...)
}

// lastModified is the retention age fallback for segments without timestamps.
func (s *segment) lastModified() time.Time {
	fi, err := os.Stat(s.logPath)
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

// removeFiles unlinks the segment's files; open descriptors stay valid.
func (s *segment) removeFiles() error {
	var errs []error
	for _, p := range []string{s.logPath, s.index.path, s.tindex.path, s.txnIndexPath()} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
