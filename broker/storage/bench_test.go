package storage

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
)

func benchStore(b *testing.B, cfg Config) *Partition {
	b.Helper()
	cfg.Dirs = []string{b.TempDir()}
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.CreateTopic("bench", 1, nil); err != nil {
		b.Fatal(err)
	}
	return s.Partition("bench", 0)
}

// BenchmarkAppend appends batches of 1 KiB records through the page cache
// (and, for sync-on-ack, with an fdatasync per append), with the active
// segment preallocated (the default) or not.
func BenchmarkAppend(b *testing.B) {
	for _, tc := range []struct {
		records   int
		syncOnAck bool
	}{{1, false}, {16, false}, {16, true}} {
		for _, prealloc := range []bool{true, false} {
			name := fmt.Sprintf("records=%d/sync=%v/preallocate=%v", tc.records, tc.syncOnAck, prealloc)
			cfg := Config{NodeID: 1, SegmentBytes: 64 << 20}
			if !prealloc {
				cfg.PreallocateBytes = -1
			}
			benchAppend(b, name, cfg, tc.records, tc.syncOnAck)
		}
	}
}

func benchAppend(b *testing.B, name string, cfg Config, records int, syncOnAck bool) {
	b.Run(name, func(b *testing.B) {
		p := benchStore(b, cfg)
		batch := simple(b, "bench", records, 1024)
		b.SetBytes(int64(len(batch)))
		b.ReportAllocs()
		w0 := writeSyscalls(b)
		for b.Loop() {
			if _, err := p.Append(batch, syncOnAck); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(writeSyscalls(b)-w0)/float64(b.N), "writes/op")
	})
}

// BenchmarkAppendIdempotent appends one batch of three 1 KiB records per
// op from one idempotent producer, its sequence advancing: what franz-go
// (idempotent by default) sends at linger 0. The batch's sequence (and so
// its CRC) is rewritten per op; that costs no allocation.
func BenchmarkAppendIdempotent(b *testing.B) {
	p := benchStore(b, Config{NodeID: 1, SegmentBytes: 64 << 20})
	batch := encodeBatch(b, batchOpts{values: values("bench", 3, 1024), timestamp: 1_700_000_000_000, pid: 1})
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	seq := int32(0)
	for b.Loop() {
		binary.BigEndian.PutUint32(batch[offBaseSequence:], uint32(seq))
		fixBatch(batch)
		if _, err := p.Append(batch, false); err != nil {
			b.Fatal(err)
		}
		seq += 3
	}
}

// writeSyscalls is the process's count of write(2)-family calls so far
// (syscw in /proc/self/io: write, pwrite, writev; not fdatasync).
func writeSyscalls(tb testing.TB) int64 {
	tb.Helper()
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		tb.Skipf("no /proc/self/io to count write syscalls: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return n
		}
	}
	tb.Fatal("no syscw in /proc/self/io")
	return 0
}

// BenchmarkRead looks up random-ish offsets and copies the returned range
// (index lookup, header scan, pread), as a fetch without sendfile would.
func BenchmarkRead(b *testing.B) {
	for _, maxBytes := range []int32{16 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("maxBytes=%d", maxBytes), func(b *testing.B) {
			p := benchStore(b, Config{NodeID: 1, SegmentBytes: 16 << 20})
			batch := simple(b, "bench", 16, 1024)
			for range 2000 {
				if _, err := p.Append(batch, false); err != nil {
					b.Fatal(err)
				}
			}
			hwm := p.HighWatermark()
			buf := make([]byte, maxBytes+int32(len(batch)))
			var off int64
			b.ReportAllocs()
			for b.Loop() {
				off = (off + 7919) % hwm
				sl, err := p.Read(off, maxBytes)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := sl.File.ReadAt(buf[:sl.Size], sl.Pos); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(sl.Size)
				sl.Release()
			}
		})
	}
}

// BenchmarkCreateTopic creates a topic of 1 and of 1,000 partitions: dirs,
// segments, and topic.json and partition.metadata, all fsync'd.
func BenchmarkCreateTopic(b *testing.B) {
	for _, parts := range []int32{1, 1000} {
		b.Run(fmt.Sprintf("partitions=%d", parts), func(b *testing.B) {
			cfg := Config{NodeID: 1, Dirs: []string{b.TempDir()}, Logger: slog.New(slog.DiscardHandler)}
			s, err := Open(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			i := 0
			for b.Loop() {
				if err := s.CreateTopic(fmt.Sprintf("bench-%d", i), parts, nil); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := s.DeleteTopic(fmt.Sprintf("bench-%d", i)); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				i++
			}
		})
	}
}

// BenchmarkAppendPartitions appends 16-record batches of 1 KiB records
// round-robin over 1 and over 1,000 partitions of one topic: what many
// partitions cost the write path per batch.
func BenchmarkAppendPartitions(b *testing.B) {
	for _, parts := range []int32{1, 1000} {
		b.Run(fmt.Sprintf("partitions=%d", parts), func(b *testing.B) {
			cfg := Config{NodeID: 1, Dirs: []string{b.TempDir()}, Logger: slog.New(slog.DiscardHandler), SegmentBytes: 64 << 20}
			s, err := Open(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			if err := s.CreateTopic("bench", parts, nil); err != nil {
				b.Fatal(err)
			}
			ps := make([]*Partition, parts)
			for i := range ps {
				ps[i] = s.Partition("bench", int32(i))
			}
			batch := simple(b, "bench", 16, 1024)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := ps[i%len(ps)].Append(batch, false); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
