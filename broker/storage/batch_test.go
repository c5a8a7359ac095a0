package storage

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestValidateBatches(t *testing.T) {
	good := simple(t, "v", 3, 20)
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name    string
		records []byte
		max     int32
		want    *kerr.Error
	}{
		{"a valid batch passes", good, DefaultMessageMaxBytes, nil},
		{"two valid batches pass", append(bytes.Clone(good), good...), DefaultMessageMaxBytes, nil},
		{"empty produce data is an invalid record", nil, DefaultMessageMaxBytes, kerr.InvalidRecord},
		{"a bad crc is a corrupt message", edit(func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }), DefaultMessageMaxBytes, kerr.CorruptMessage},
		{"a truncated batch is a corrupt message", good[:len(good)-5], DefaultMessageMaxBytes, kerr.CorruptMessage},
		{"a few trailing bytes are a corrupt message", append(bytes.Clone(good), 0, 0, 0), DefaultMessageMaxBytes, kerr.CorruptMessage},
		{"fewer bytes than a header are a corrupt message", good[:40], DefaultMessageMaxBytes, kerr.CorruptMessage},
		{"a length below the header size is a corrupt message", edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offLength:], 10)
			return b
		}), DefaultMessageMaxBytes, kerr.CorruptMessage},
		{"a batch over message.max.bytes is too large", good, int32(len(good) - 1), kerr.MessageTooLarge},
		{"a batch exactly at message.max.bytes passes", good, int32(len(good)), nil},
		{"magic 1 is unsupported for the message format", edit(func(b []byte) []byte { b[offMagic] = 1; return b }), DefaultMessageMaxBytes, kerr.UnsupportedForMessageFormat},
		{"magic 3 is a corrupt message", edit(func(b []byte) []byte { b[offMagic] = 3; return b }), DefaultMessageMaxBytes, kerr.CorruptMessage},
		{"a record count that disagrees with lastOffsetDelta is an invalid record", edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offRecordCount:], 4)
			fixBatch(b)
			return b
		}), DefaultMessageMaxBytes, kerr.InvalidRecord},
		{"fewer records than counted is an invalid record", edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offRecordCount:], 4)
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 3)
			fixBatch(b)
			return b
		}), DefaultMessageMaxBytes, kerr.InvalidRecord},
		{"more records than counted is an invalid record", edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offRecordCount:], 2)
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 1)
			fixBatch(b)
			return b
		}), DefaultMessageMaxBytes, kerr.InvalidRecord},
		{"a record that does not decode is an invalid record", edit(func(b []byte) []byte {
			b[batchHeaderSize] = 0x7f // first record's length varint: -64
			fixBatch(b)
			return b
		}), DefaultMessageMaxBytes, kerr.InvalidRecord},
		{"a control batch from a client is an invalid record", edit(func(b []byte) []byte {
			b[offAttributes+1] |= attrControl
			fixBatch(b)
			return b
		}), DefaultMessageMaxBytes, kerr.InvalidRecord},
		{"an unknown compression codec is a corrupt message", edit(func(b []byte) []byte {
			b[offAttributes+1] |= 7
			fixBatch(b)
			return b
		}), DefaultMessageMaxBytes, kerr.CorruptMessage},
		{"a gzip batch passes", encodeBatch(t, batchOpts{values: values("z", 5, 100), codec: kgo.GzipCompression()}), DefaultMessageMaxBytes, nil},
		{"a snappy batch passes", encodeBatch(t, batchOpts{values: values("z", 5, 100), codec: kgo.SnappyCompression()}), DefaultMessageMaxBytes, nil},
		{"an lz4 batch passes", encodeBatch(t, batchOpts{values: values("z", 5, 100), codec: kgo.Lz4Compression()}), DefaultMessageMaxBytes, nil},
		{"a zstd batch passes", encodeBatch(t, batchOpts{values: values("z", 5, 100), codec: kgo.ZstdCompression()}), DefaultMessageMaxBytes, nil},
		{"a compressed batch that does not decompress is a corrupt message", func() []byte {
			b := encodeBatch(t, batchOpts{values: values("z", 5, 100), codec: kgo.ZstdCompression()})
			b[batchHeaderSize+2] ^= 0xff
			fixBatch(b)
			return b
		}(), DefaultMessageMaxBytes, kerr.CorruptMessage},
		{"a compressed batch with fewer records than counted is an invalid record", func() []byte {
			b := encodeBatch(t, batchOpts{values: values("z", 5, 100), codec: kgo.GzipCompression()})
			binary.BigEndian.PutUint32(b[offRecordCount:], 6)
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 5)
			fixBatch(b)
			return b
		}(), DefaultMessageMaxBytes, kerr.InvalidRecord},
		{"a negative sequence from an idempotent producer is an invalid record",
			encodeBatch(t, batchOpts{values: values("x", 1, 5), pid: 7, epoch: 0, seq: -5}), DefaultMessageMaxBytes, kerr.InvalidRecord},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := validateBatches(tt.records, tt.max, newDecompressor(DefaultMaxDecompressedBytes), nil)
			wantKerr(t, err, tt.want)
		})
	}
}

func TestAppendRejectsInvalidBatchWithoutWriting(t *testing.T) {
	s := openStore(t, testConfig(t, 1))
	mustCreate(t, s, "v", 1, map[string]*string{"max.message.bytes": ptr("200")})
	p := s.Partition("v", 0)
	mustAppend(t, p, simple(t, "ok", 1, 10))
	bad := simple(t, "bad", 1, 10)
	bad[len(bad)-1] ^= 1
	_, err := p.Append(bad, false)
	wantKerr(t, err, kerr.CorruptMessage)
	_, err = p.Append(simple(t, "big", 10, 50), false)
	wantKerr(t, err, kerr.MessageTooLarge)
	if hwm := p.HighWatermark(); hwm != 1 {
		t.Fatalf("high watermark %d after rejected appends, want 1", hwm)
	}
	if got := len(readAll(t, p, 0)); got != 1 {
		t.Fatalf("%d batches in the log, want 1", got)
	}
	if st := s.Stats(); st.Rejected != 2 {
		t.Fatalf("Stats().Rejected = %d, want 2", st.Rejected)
	}
}

func TestLogAppendTime(t *testing.T) {
	cfg, clock := clockedConfig(t, 1)
	s := openStore(t, cfg)
	mustCreate(t, s, "lat", 1, map[string]*string{"message.timestamp.type": ptr("LogAppendTime")})
	mustCreate(t, s, "ct", 1, nil)
	for _, tc := range []struct {
		topic   string
		wantLAT bool
	}{{"lat", true}, {"ct", false}} {
		t.Run(tc.topic, func(t *testing.T) {
			p := s.Partition(tc.topic, 0)
			b := simple(t, "t", 3, 10)
			res := mustAppend(t, p, b)
			stored := readAll(t, p, 0)[0]
			h := parseHeader(stored)
			if _, err := checkStoredBatch(stored); err != nil {
				t.Fatalf("stored batch: %v", err)
			}
			now := clock.Now().UnixMilli()
			if tc.wantLAT {
				if res.LogAppendTime != now || h.maxTimestamp != now || h.attributes&attrLogAppendTime == 0 {
					t.Fatalf("LogAppendTime %d, stored maxTimestamp %d attrs %x; want %d with the bit set", res.LogAppendTime, h.maxTimestamp, h.attributes, now)
				}
				return
			}
			if res.LogAppendTime != -1 || h.maxTimestamp != 1_700_000_000_002 || h.attributes&attrLogAppendTime != 0 {
				t.Fatalf("CreateTime topic changed the batch: LogAppendTime %d maxTimestamp %d", res.LogAppendTime, h.maxTimestamp)
			}
		})
	}
}
