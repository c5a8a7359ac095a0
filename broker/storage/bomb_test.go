package storage

import (
	"bytes"
	"io"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// bombSize is what the bombs decompress to: 8 times the default bound.
const bombSize = 128 << 20

// bomb returns a one-record batch whose records field is codec-compressed
// bombSize bytes: a record header claiming one huge value, then zeros.
func bomb(tb testing.TB, codec int16) []byte {
	tb.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch codec {
	case codecGzip:
		gw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
		if err != nil {
			tb.Fatal(err)
		}
		w = gw
	case codecZstd:
		zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest))
		if err != nil {
			tb.Fatal(err)
		}
		w = zw
	}
	if _, err := io.CopyN(w, zeros{}, bombSize); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	b := kmsg.RecordBatch{Attributes: codec, PartitionLeaderEpoch: -1, Magic: 2, FirstTimestamp: 1, MaxTimestamp: 1,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: buf.Bytes()}
	raw := b.AppendTo(nil)
	fixBatch(raw)
	return raw
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// heapAllocs is the bytes allocated on the heap so far.
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func TestCompressionBombsAreRefusedWithBoundedMemory(t *testing.T) {
	for _, tt := range []struct {
		name  string
		codec int16
	}{{"gzip", codecGzip}, {"zstd", codecZstd}} {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, testConfig(t, 1))
			p := onePartition(t, s, "t")
			b := bomb(t, tt.codec)
			if len(b) > DefaultMessageMaxBytes {
				t.Fatalf("the %s bomb is %d bytes, above message.max.bytes", tt.name, len(b))
			}
			before := heapAllocs()
			_, err := p.Append(b, false)
			grew := heapAllocs() - before
			wantKerr(t, err, kerr.MessageTooLarge)
			if !strings.Contains(err.Error(), "brokerlab.message.max.decompressed.bytes") {
				t.Errorf("error %q does not name the bound", err)
			}
			// The bound is 16 MiB and the buffer doubles up to it: about
			// 48 MiB in all, plus the codec's window; half of the 128 MiB
			// the bomb expands to (an unbounded decoder allocates more).
			if limit := uint64(4 * DefaultMaxDecompressedBytes); grew > limit {
				t.Errorf("a %d-byte %s bomb allocated %d MiB, want at most %d MiB", len(b), tt.name, grew>>20, limit>>20)
			}
			if p.HighWatermark() != 0 || p.Size() != 0 {
				t.Errorf("the bomb was stored: high watermark %d, %d bytes", p.HighWatermark(), p.Size())
			}
			t.Logf("%s bomb: %d bytes compressed, %d decompressed, %d MiB allocated", tt.name, len(b), bombSize, grew>>20)
		})
	}
}

func TestCompressedBatchesWithinTheBoundAreStored(t *testing.T) {
	s := openStore(t, testConfig(t, 1))
	p := onePartition(t, s, "t")
	var want [][]byte
	for _, c := range []struct {
		name  string
		codec kgo.CompressionCodec
	}{{"gzip", kgo.GzipCompression()}, {"snappy", kgo.SnappyCompression()}, {"lz4", kgo.Lz4Compression()}, {"zstd", kgo.ZstdCompression()}} {
		b := encodeBatch(t, batchOpts{values: values(c.name, 50, 2000), timestamp: 1, codec: c.codec})
		want = append(want, b)
		mustAppend(t, p, b)
	}
	if got := readAll(t, p, 0); len(got) != len(want) {
		t.Fatalf("read %d batches back, want %d", len(got), len(want))
	}
}
