package storage

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Preallocation of the active segment (brokerlab.log.preallocate.bytes).
//
// An append that extends a file makes the filesystem allocate blocks for
// it: on ext4 and XFS a delayed allocation per write and an extent update
// in the journal at writeback. Space fallocated ahead of the data in
// growing steps turns that into one allocation per step. The space is
// reserved with FALLOC_FL_KEEP_SIZE, so the file's size stays the size of
// its data: O_APPEND writes, readers, a clean load and a copy of the file
// see no difference, and a crash leaves no zero tail inside the file's size
// on filesystems that order the size after the data (ext4 data=ordered).
// Sealing a segment (roll, close) gives the space beyond the data back.
//
// Recovery still treats a zero-filled tail as the end of the log
// (zeroTail): a filesystem that logs a size before the data it covers
// (XFS unwritten extents, ext4 data=writeback), or a file preallocated
// without KEEP_SIZE by another tool, shows one after a power cut.

// minPreallocStep is the first step; each next one doubles, up to
// Config.PreallocateBytes.
const minPreallocStep = 64 << 10

// reserveSpace makes sure the n bytes about to be appended land in space
// fallocated ahead (partition lock held, segment active). maxStep is the
// largest step (<= 0: off) and limit the segment's log.segment.bytes: no
// space is reserved beyond it but the append's own. A failed fallocate
// (a filesystem without it, a full disk) turns preallocation off for the
// segment and is returned for logging; the append goes on without it.
func (s *segment) reserveSpace(n, maxStep, limit int64) error {
	if maxStep <= 0 || s.alloc < 0 || s.size+n <= s.alloc {
		return nil
	}
	from := max(s.size, s.alloc)
	if from >= limit {
		return nil // the segment rolls at its next append
	}
	step := min(s.allocStep, maxStep)
	if step <= 0 {
		step = min(minPreallocStep, maxStep)
	}
	end := max(min(from+step, limit), s.size+n)
	if err := fallocate(s.log, unix.FALLOC_FL_KEEP_SIZE, from, end-from); err != nil {
		s.alloc = -1
		return fmt.Errorf("preallocating %d bytes at %d of %s: %w", end-from, from, s.logPath, err)
	}
	s.alloc, s.allocStep = end, min(step*2, maxStep)
	return nil
}

// trimSpace gives back the space reserved beyond the data (seal). ext4 and
// XFS free blocks past the size on a truncate to the size, and ignore a
// hole punched there (ext4); tmpfs does the opposite: both are done.
func (s *segment) trimSpace() error {
	if s.alloc <= s.size {
		s.alloc, s.allocStep = 0, 0
		return nil
	}
	from, end := s.size, s.alloc
	s.alloc, s.allocStep = 0, 0
	if err := s.log.Truncate(from); err != nil {
		return fmt.Errorf("trimming preallocated space of %s: %w", s.logPath, err)
	}
	err := fallocate(s.log, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, from, end-from)
	if err != nil && !errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("trimming preallocated space of %s: %w", s.logPath, err)
	}
	return nil
}

// fallocate is fallocate(2) on f, retrying on EINTR.
func fallocate(f *os.File, mode uint32, off, n int64) error {
	return retryEINTR(f, func(fd int) error { return unix.Fallocate(fd, mode, off, n) })
}

// zeroTail says whether f holds only zero bytes from pos to end: space
// whose size reached the disk but whose data did not. Holes and unwritten
// extents (what SEEK_DATA skips) are not read, so a large preallocated
// tail costs a few lseeks; the data ranges are read and checked.
func zeroTail(f *os.File, pos, end int64) (bool, error) {
	buf := make([]byte, 64<<10)
	for pos < end {
		d, err := f.Seek(pos, unix.SEEK_DATA)
		switch {
		case errors.Is(err, unix.ENXIO):
			return true, nil // no data from pos to the end of the file
		case err != nil:
			d = pos // no SEEK_DATA: read everything
		}
		if d >= end {
			return true, nil
		}
		h := end
		if err == nil {
			if h, err = f.Seek(d, unix.SEEK_HOLE); err != nil || h > end {
				h = end
			}
		}
		for d < h {
			b := buf[:min(int64(len(buf)), h-d)]
			if _, err := f.ReadAt(b, d); err != nil && !errors.Is(err, io.EOF) {
				return false, fmt.Errorf("reading %s at %d: %w", f.Name(), d, err)
			}
			for _, c := range b {
				if c != 0 {
					return false, nil
				}
			}
			d += int64(len(b))
		}
		pos = h
	}
	return true, nil
}
