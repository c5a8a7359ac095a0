package storage

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// Index files are read a chunk at a time up to the first unused entry: a
// valid run longer than one chunk loads whole, and the preallocated zero
// tail of a crashed active segment ends it.
func TestOpenIndexesAcrossChunks(t *testing.T) {
	dir := t.TempDir()
	const n = indexReadChunk/offsetEntrySize + 1000 // more than one chunk
	off := make([]byte, 0, n*offsetEntrySize)
	tim := make([]byte, 0, n*timeEntrySize)
	for i := range n {
		off = binary.BigEndian.AppendUint32(off, uint32(i+1))
		off = binary.BigEndian.AppendUint32(off, uint32(100*(i+1)))
		tim = binary.BigEndian.AppendUint64(tim, uint64(1000+i))
		tim = binary.BigEndian.AppendUint32(tim, uint32(i+1))
	}
	for _, f := range []struct {
		name string
		data []byte
		size int64
	}{{"x.index", off, 10 << 20}, {"x.timeindex", tim, 10 << 20}} {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, f.size); err != nil { // the sparse preallocated tail
			t.Fatal(err)
		}
	}
	ix, err := openOffsetIndex(filepath.Join(dir, "x.index"), 10<<20, 1<<40)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.f.Close()
	if len(ix.entries) != n || ix.entries[n-1].rel != n {
		t.Fatalf("offset index: %d entries, want %d", len(ix.entries), n)
	}
	tx, err := openTimeIndex(filepath.Join(dir, "x.timeindex"), 10<<20, 1<<31)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.f.Close()
	if len(tx.entries) != n || tx.entries[n-1].rel != n {
		t.Fatalf("time index: %d entries, want %d", len(tx.entries), n)
	}
	// Entries pointing past the log end are dropped.
	ix2, err := openOffsetIndex(filepath.Join(dir, "x.index"), 10<<20, 100*500+1)
	if err != nil {
		t.Fatal(err)
	}
	defer ix2.f.Close()
	if len(ix2.entries) != 500 {
		t.Fatalf("offset index with a 50001-byte log: %d entries, want 500", len(ix2.entries))
	}
}
