// Package framedlog is the file the group coordinator's committed offsets
// and the transaction coordinator's transaction states are kept in: an
// append-only file of records, each framed as
//
//	length  uint32  bytes of body, big-endian
//	crc     uint32  CRC32C (Castagnoli, as Kafka's record batches) of body
//	body
//
// Appends are one write(2) and one fsync; a failed append cuts the file
// back to its old size. Load reads the file up to its first torn or corrupt
// frame; compaction (Replace) writes a temp file, fsyncs it, renames it
// over the log and fsyncs the directory. What a body holds, and when to
// compact, is the caller's.
package framedlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"github.com/brokerlab/brokerlab/internal/fsutil"
)

// HeaderLen is the size of a frame's length and CRC.
const HeaderLen = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendFrame appends one frame to dst: a header, the body appendBody
// appends, and then the header filled in with the body's length and CRC.
func AppendFrame(dst []byte, appendBody func([]byte) []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, HeaderLen)...)
	dst = appendBody(dst)
	body := dst[start+HeaderLen:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(body)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(body, castagnoli))
	return dst
}

// Frames calls fn with the body of each frame of data, in order, up to the
// first torn or corrupt one: a length below minBody, above maxBody (which
// bounds what a torn length prefix can make a reader take) or past the end
// of data, or a CRC mismatch. It returns the length of the sound prefix.
func Frames(data []byte, minBody, maxBody int, fn func(body []byte)) (valid int) {
	for len(data)-valid >= HeaderLen {
		n := binary.BigEndian.Uint32(data[valid:])
		if n < uint32(minBody) || n > uint32(maxBody) || int64(n) > int64(len(data)-valid-HeaderLen) {
			break
		}
		body := data[valid+HeaderLen : valid+HeaderLen+int(n)]
		if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(data[valid+4:]) {
			break
		}
		valid += HeaderLen + int(n)
		fn(body)
	}
	return valid
}

// File is a framed log file, dir/name, compacted through dir/name.tmp. It
// is not safe for concurrent use: its owner's lock guards it.
type File struct {
	dir, name string
	f         *os.File // nil until opened and after Close
	size      int64
}

// Read creates dir if needed and returns the log dir/name, not yet open for
// appends, and its contents (none when it does not exist). The caller
// decodes them and then calls Resume or, to drop a torn tail or compact,
// Replace.
func Read(dir, name string) (*File, []byte, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	l := &File{dir: dir, name: name}
	data, err := os.ReadFile(l.Path())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("reading %s: %w", l.Path(), err)
	}
	l.size = int64(len(data))
	return l, data, nil
}

// Path returns the log's path.
func (l *File) Path() string { return filepath.Join(l.dir, l.name) }

// Size returns the bytes in the file.
func (l *File) Size() int64 { return l.size }

// Resume opens the file as Read found it for appends, creating it (and
// syncing dir, so that it stays) when it did not exist or was empty.
func (l *File) Resume() error {
	f, err := os.OpenFile(l.Path(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening %s: %w", l.Path(), err)
	}
	if l.size == 0 {
		if err := fsutil.SyncDir(l.dir); err != nil {
			f.Close()
			return err
		}
	}
	l.f = f
	return nil
}

// Append writes buf, whole frames, with one write and one fsync. On an
// error the file is cut back to its old size; after Close it fails with
// os.ErrClosed.
func (l *File) Append(buf []byte) error {
	if l.f == nil {
		return fmt.Errorf("appending to %s: %w", l.Path(), os.ErrClosed)
	}
	if _, err := l.f.Write(buf); err != nil {
		_ = l.f.Truncate(l.size)
		return fmt.Errorf("writing %s: %w", l.Path(), err)
	}
	if err := l.f.Sync(); err != nil {
		_ = l.f.Truncate(l.size)
		return fmt.Errorf("syncing %s: %w", l.Path(), err)
	}
	l.size += int64(len(buf))
	return nil
}

// Replace makes buf the whole file: a temp file, fsync, rename over the
// log, fsync of the directory, and the new file opened for appends. On an
// error the old file stays as it was.
func (l *File) Replace(buf []byte) error {
	tmp := l.Path() + ".tmp"
	if err := fsutil.WriteFileSync(tmp, buf); err != nil {
		return err
	}
	if err := os.Rename(tmp, l.Path()); err != nil {
		return fmt.Errorf("renaming %s to %s: %w", tmp, l.Path(), err)
	}
	if err := fsutil.SyncDir(l.dir); err != nil {
		return err
	}
	f, err := os.OpenFile(l.Path(), os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening %s: %w", l.Path(), err)
	}
	if l.f != nil {
		l.f.Close()
	}
	l.f, l.size = f, int64(len(buf))
	return nil
}

// Close closes the file; later appends fail with os.ErrClosed. It may be
// called more than once.
func (l *File) Close() error {
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	if err != nil {
		return fmt.Errorf("closing %s: %w", l.Path(), err)
	}
	return nil
}
