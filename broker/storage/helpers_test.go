package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// batchOpts describes a test batch.
type batchOpts struct {
	values    [][]byte
	timestamp int64 // first timestamp; record i gets timestamp+i
	pid       int64 // -1: not idempotent
	epoch     int16
	seq       int32
	codec     kgo.CompressionCodec // zero: uncompressed
}

// values returns n values of size bytes each, distinct per (tag, i).
func values(tag string, n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		v := fmt.Appendf(nil, "%s-%d-", tag, i)
		for len(v) < size {
			v = append(v, byte('a'+i%26))
		}
		out[i] = v[:max(size, len(fmt.Sprintf("%s-%d-", tag, i)))]
	}
	return out
}

// encodeBatch builds a v2 record batch with franz-go's kmsg types, the way
// kgo encodes produce requests: baseOffset 0, leader epoch -1, CRC32C.
func encodeBatch(tb testing.TB, o batchOpts) []byte {
	tb.Helper()
	if o.pid == 0 && o.epoch == 0 && o.seq == 0 {
		o.pid, o.epoch, o.seq = -1, -1, -1
	}
	var recs []byte
	for i, v := range o.values {
		r := kmsg.Record{TimestampDelta64: int64(i), OffsetDelta: int32(i), Key: fmt.Appendf(nil, "k%d", i), Value: v,
			Headers: []kmsg.Header{{Key: "h", Value: []byte("v")}}}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // the Length 0 varint is one byte
		recs = r.AppendTo(recs)
	}
	n := int32(len(o.values))
	var attrs int16
	if o.codec != (kgo.CompressionCodec{}) {
		c, err := kgo.DefaultCompressor(o.codec)
		if err != nil {
			tb.Fatal(err)
		}
		var buf bytes.Buffer
		out, typ := c.Compress(&buf, recs)
		recs, attrs = bytes.Clone(out), int16(typ)
	}
	b := kmsg.RecordBatch{Attributes: attrs,
		PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: n - 1,
		FirstTimestamp: o.timestamp, MaxTimestamp: o.timestamp + int64(n) - 1,
		ProducerID: o.pid, ProducerEpoch: o.epoch, FirstSequence: o.seq, NumRecords: n, Records: recs,
	}
	raw := b.AppendTo(nil)
	fixBatch(raw)
	return raw
}

// fixBatch recomputes a batch's length and CRC after a test edited it.
func fixBatch(raw []byte) {
	binary.BigEndian.PutUint32(raw[offLength:], uint32(len(raw)-logOverhead))
	binary.BigEndian.PutUint32(raw[offCRC:], crc32.Checksum(raw[offAttributes:], castagnoli))
}

// simple returns a non-idempotent batch of n records of size bytes.
func simple(tb testing.TB, tag string, n, size int) []byte {
	return encodeBatch(tb, batchOpts{values: values(tag, n, size), timestamp: 1_700_000_000_000})
}

// fakeClock is an injectable clock for roll and retention tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// clockedConfig is testConfig with the store's clock a fake one, returned
// to be advanced.
func clockedConfig(tb testing.TB, dirs int) (Config, *fakeClock) {
	tb.Helper()
	clock := newFakeClock()
	cfg := testConfig(tb, dirs)
	cfg.Now = clock.Now
	return cfg, clock
}

func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// testConfig is a small-store config in fresh temp dirs.
func testConfig(tb testing.TB, dirs int) Config {
	cfg := Config{NodeID: 1, Logger: testLogger(tb), MaxIndexBytes: 4096}
	for range dirs {
		cfg.Dirs = append(cfg.Dirs, tb.TempDir())
	}
	return cfg
}

// openStore opens a Store and closes it at the end of the test.
func openStore(tb testing.TB, cfg Config) *Store {
	tb.Helper()
	s, err := Open(cfg)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// crash drops the store without flushing, trimming or writing markers,
// leaving the files as a killed broker would (page cache contents kept).
func (s *Store) crash() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.bg.Wait()
	for _, p := range s.partitions() {
		p.drop()
	}
	s.releaseDirs()
}

func mustCreate(tb testing.TB, s *Store, topic string, partitions int32, configs map[string]*string) {
	tb.Helper()
	if err := s.CreateTopic(topic, partitions, configs); err != nil {
		tb.Fatalf("CreateTopic(%s): %v", topic, err)
	}
}

// onePartition creates topic with one partition and the broker's default
// configs, and returns the partition.
func onePartition(tb testing.TB, s *Store, topic string) *Partition {
	tb.Helper()
	mustCreate(tb, s, topic, 1, nil)
	return s.Partition(topic, 0)
}

func mustAppend(tb testing.TB, p *Partition, batch []byte) AppendResult {
	tb.Helper()
	res, err := p.Append(batch, false)
	if err != nil {
		tb.Fatalf("Append to %s: %v", p, err)
	}
	return res
}

// readAt returns what p serves at offset off, up to maxBytes (at least one
// whole batch), failing the test if it cannot.
func readAt(tb testing.TB, p *Partition, off int64, maxBytes int32) []byte {
	tb.Helper()
	sl, err := p.Read(off, maxBytes)
	if err != nil {
		tb.Fatalf("Read(%d): %v", off, err)
	}
	data, err := sl.readAll()
	sl.Release()
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// readAll reads every batch from offset to the high watermark, checks
// their offsets are contiguous and returns the batches.
func readAll(tb testing.TB, p *Partition, from int64) [][]byte {
	tb.Helper()
	var out [][]byte
	next := from
	for next < p.HighWatermark() {
		data := readAt(tb, p, next, 64<<10)
		if len(data) == 0 {
			tb.Fatalf("Read(%d) below the high watermark %d returned nothing", next, p.HighWatermark())
		}
		for len(data) > 0 {
			h := parseHeader(data)
			if h.lastOffset() < next {
				tb.Fatalf("batch [%d, %d] returned for offset %d", h.baseOffset, h.lastOffset(), next)
			}
			if _, err := checkStoredBatch(data[:h.size()]); err != nil {
				tb.Fatalf("batch at offset %d: %v", h.baseOffset, err)
			}
			out = append(out, data[:h.size()])
			next = h.lastOffset() + 1
			data = data[h.size():]
		}
	}
	return out
}

func ptr(s string) *string { return &s }

// wantKerr checks that err wraps the given Kafka error.
func wantKerr(tb testing.TB, err error, want *kerr.Error) {
	tb.Helper()
	if want == nil {
		if err != nil {
			tb.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var ke *kerr.Error
	if !errors.As(err, &ke) || ke != want {
		tb.Fatalf("error %v, want one wrapping %s", err, want.Message)
	}
}
