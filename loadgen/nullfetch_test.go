package loadgen

import (
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/internal/brokertest"
)

func TestNullConsumerReadsEveryRecordOfARealBroker(t *testing.T) {
	addr := brokertest.Start(t, nil)
	const (
		topic   = "null-consumer"
		records = 20000
		size    = 1000
	)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(),
		kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(256<<10), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	value := make([]byte, size)
	for i := range records {
		cl.Produce(t.Context(), &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("record %d: %v", i, err)
			}
		})
	}
	if err := cl.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}

	// One stream reads each batch exactly once.
	one, err := NullFetch(t.Context(), NullFetchConfig{Addr: addr, Topic: topic, Streams: 1, MaxBytes: 1 << 20, CheckCRC: true})
	if err != nil {
		t.Fatal(err)
	}
	if one.Records != records || one.Requests < 2 {
		t.Errorf("one stream read %d records in %d requests, want %d in several (1 MiB max bytes)", one.Records, one.Requests, records)
	}
	if one.RecordBytes < records*size || one.ResponseBytes <= one.RecordBytes {
		t.Errorf("one stream: %d record bytes, %d response bytes; want at least %d record bytes inside the responses", one.RecordBytes, one.ResponseBytes, records*size)
	}
	// Several streams share the offsets; each reads on into its
	// neighbour's share by at most one response (max bytes).
	const maxBytes = 300 << 10
	four, err := NullFetch(t.Context(), NullFetchConfig{Addr: addr, Topic: topic, Streams: 4, MaxBytes: maxBytes, CheckCRC: true})
	if err != nil {
		t.Fatal(err)
	}
	if four.Streams != 4 || four.Records < records || four.RecordBytes > one.RecordBytes+4*maxBytes {
		t.Errorf("four streams read %d records, %d bytes (one stream: %d bytes); want every record and at most one response per stream twice", four.Records, four.RecordBytes, one.RecordBytes)
	}
	if _, err := NullFetch(t.Context(), NullFetchConfig{Addr: addr, Topic: "no-such-topic"}); err == nil {
		t.Error("null fetch of a missing topic: want an error")
	}
}

// testBatch is a v2 record batch of n records (built by kmsg) at base.
func testBatch(base int64, n int) []byte {
	var recs []byte
	for i := range n {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte("value")}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{FirstOffset: base, Magic: 2, LastOffsetDelta: int32(n - 1), NumRecords: int32(n), Records: recs,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], castagnoli))
	return raw
}

func TestCheckBatchesFollowsTheFraming(t *testing.T) {
	a, b := testBatch(0, 3), testBatch(3, 5)
	two := append(append([]byte(nil), a...), b...)
	f, err := CheckBatches(two, true)
	if err != nil {
		t.Fatal(err)
	}
	if f.Batches != 2 || f.Records != 8 || f.Next != 8 || f.Partial != 0 {
		t.Errorf("two batches: %+v, want 2 batches, 8 records, next offset 8", f)
	}
	if f, err := CheckBatches(two[:len(two)-7], true); err != nil || f.Batches != 1 || f.Partial != len(b)-7 || f.Next != 3 {
		t.Errorf("a cut second batch: %+v, %v; want one batch and a partial one of %d bytes", f, err, len(b)-7)
	}
	bad := func(mut func([]byte)) []byte {
		c := append([]byte(nil), two...)
		mut(c)
		return c
	}
	for _, tt := range []struct {
		name string
		in   []byte
		crc  bool
		want string
	}{
		{"flipped value byte", bad(func(c []byte) { c[len(a)-2] ^= 1 }), true, "CRC-32C"},
		{"length below a header", bad(func(c []byte) { binary.BigEndian.PutUint32(c[8:], 10) }), false, "shorter than a batch header"},
		{"magic 1", bad(func(c []byte) { c[len(a)+16] = 1 }), false, "magic 1"},
		{"negative record count", bad(func(c []byte) { binary.BigEndian.PutUint32(c[57:], 0xffffffff) }), false, "records"},
	} {
		if _, err := CheckBatches(tt.in, tt.crc); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one saying %q", tt.name, err, tt.want)
		}
	}
	if _, err := CheckBatches(bad(func(c []byte) { c[len(a)-2] ^= 1 }), false); err != nil {
		t.Errorf("a flipped value byte without the CRC check: %v, want it unnoticed (framing holds)", err)
	}
}
