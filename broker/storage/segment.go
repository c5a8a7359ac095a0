package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
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
// except refs is guarded by the owning partition's mu; bytes below size
// are immutable, so readers holding a reference pread them without a lock.
type segment struct {
	base    int64
	logPath string
	log     *os.File // O_APPEND: writes go through the page cache with write(2)
	index   *offsetIndex
	tindex  *timeIndex

	size            int64     // committed bytes
	next            int64     // offset after the last batch
	maxTS           int64     // largest batch maxTimestamp, -1 if none
	maxTSRel        uint32    // last offset (relative) of the batch holding maxTS
	bytesSinceIndex int64     // bytes appended since the last index entry
	created         time.Time // when the segment was created or loaded: log.roll.ms counts from here
	closed          bool      // indexes closed (owner released)

	// entryDurable says the segment's directory entry survives a power
	// cut: it was found on disk at load, or the partition directory was
	// fsynced after it was created (flushTo).
	entryDurable atomic.Bool

	// refs counts the owner (the partition, until it deletes or closes
	// the segment) plus every unreleased Slice; the log file is closed
	// when it drops to zero.
	refs atomic.Int32
}

func (s *segment) acquire() { s.refs.Add(1) }

func (s *segment) release() {
	if s.refs.Add(-1) == 0 {
		s.log.Close()
	}
}

// createSegment creates an empty active segment at base in dir.
func createSegment(dir string, base int64, maxIndexBytes int32, now time.Time) (*segment, error) {
	logPath := filepath.Join(dir, segmentName(base, logSuffix))
	f, err := os.OpenFile(logPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("creating segment %s: %w", logPath, err)
	}
	s := &segment{base: base, logPath: logPath, log: f, next: base, maxTS: -1, created: now}
	s.refs.Store(1)
	// Stale index files from an earlier life of this base offset are
	// removed first so they cannot be mistaken for entries.
	os.Remove(filepath.Join(dir, segmentName(base, indexSuffix)))
	os.Remove(filepath.Join(dir, segmentName(base, timeIndexSuffix)))
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

// openSegment opens an existing segment. It does not scan the log; call
// loadTail (trusting the indexes) or recover (checking every batch).
func openSegment(dir string, base int64, maxIndexBytes int32, now time.Time) (*segment, error) {
	logPath := filepath.Join(dir, segmentName(base, logSuffix))
	f, err := os.OpenFile(logPath, os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening segment %s: %w", logPath, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening segment %s: %w", logPath, err)
	}
	s := &segment{base: base, logPath: logPath, log: f, size: fi.Size(), next: base, maxTS: -1, created: now}
	s.refs.Store(1)
	s.entryDurable.Store(true) // found on disk
	if err := s.openIndexes(dir, maxIndexBytes); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

func (s *segment) openIndexes(dir string, maxIndexBytes int32) error {
	ix, err := openOffsetIndex(filepath.Join(dir, segmentName(s.base, indexSuffix)), maxIndexBytes, s.size)
	if err != nil {
		return err
	}
	tix, err := openTimeIndex(filepath.Join(dir, segmentName(s.base, timeIndexSuffix)), maxIndexBytes, ^uint32(0))
	if err != nil {
		ix.f.Close()
		return err
	}
	s.index, s.tindex = ix, tix
	return nil
}

func (s *segment) preallocate() error {
	if err := s.index.preallocate(); err != nil {
		return err
	}
	return s.tindex.preallocate()
}

// closeFiles closes the indexes and drops the owner's reference to the log.
func (s *segment) closeFiles() {
	if s.closed {
		return
	}
	s.closed = true
	s.index.f.Close()
	s.tindex.f.Close()
	s.release()
}

// readHeader preads the 61-byte batch header at pos.
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
// appended since the last one. Index write errors only cost lookups speed.
func (s *segment) indexBatch(h *batchHeader, pos int64, interval int32) {
	if s.bytesSinceIndex > int64(interval) {
		rel := uint32(h.lastOffset() - s.base)
		if s.index.add(rel, uint32(pos)) == nil {
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
// LogSegment.recover). It returns the bytes cut; onBatch sees every valid
// batch header in order.
func (s *segment) recoverSegment(interval int32, onBatch func(*batchHeader)) (cut int64, reason error, err error) {
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
	return cut, reason, nil
}

// seal prepares a segment that stops being active: the final time index
// entry (Kafka's onBecomeInactiveSegment) and trimmed indexes.
func (s *segment) seal() error {
	if s.maxTS >= 0 {
		s.tindex.maybeAdd(s.maxTS, s.maxTSRel, true)
	}
	return errors.Join(s.index.trim(), s.tindex.trim())
}

// sync fdatasyncs the log. Indexes are not synced here: recovery rebuilds
// them after the recovery point and keeps only their valid prefix before it.
func (s *segment) sync() error {
	if err := fdatasync(s.log); err != nil {
		return fmt.Errorf("syncing %s: %w", s.logPath, err)
	}
	return nil
}

// syncIndexes fdatasyncs both indexes (on close).
func (s *segment) syncIndexes() error {
	return errors.Join(fdatasync(s.index.f), fdatasync(s.tindex.f))
}

// lastModified is the retention age fallback for segments without timestamps.
func (s *segment) lastModified() time.Time {
	fi, err := s.log.Stat()
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

// removeFiles unlinks the segment's files; open descriptors stay valid.
func (s *segment) removeFiles() error {
	var errs []error
	for _, p := range []string{s.logPath, s.index.path, s.tindex.path} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
