package storage

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// storedRecords decodes a stored batch with franz-go (its own
// decompressors, xerial snappy framing included) and returns its codec and
// records' values.
func storedRecords(t *testing.T, raw []byte) (int16, []string) {
	t.Helper()
	var b kmsg.RecordBatch
	if err := b.ReadFrom(raw); err != nil {
		t.Fatal(err)
	}
	codec := b.Attributes & 7
	recs := b.Records
	if codec != 0 {
		d := kgo.DefaultDecompressor()
		var err error
		if recs, err = d.Decompress(recs, kgo.CompressionCodecType(codec)); err != nil {
			t.Fatalf("franz-go cannot decompress the stored codec %d batch: %v", codec, err)
		}
	}
	var out []string
	for i := int32(0); i < b.NumRecords; i++ {
		var r kmsg.Record
		n, used := kbinVarint(recs)
		if err := r.ReadFrom(recs[:used+n]); err != nil {
			t.Fatal(err)
		}
		out = append(out, string(r.Value))
		recs = recs[used+n:]
	}
	return codec, out
}

func kbinVarint(b []byte) (int, int) {
	v, used, err := varint(b)
	if err != nil {
		panic(err)
	}
	return int(v), used
}

func TestCompressionTypeRecompresses(t *testing.T) {
	codecs := map[string]kgo.CompressionCodec{
		"uncompressed": {}, "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	want := map[string]int16{"uncompressed": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
	cfg := testConfig(t, 1)
	s := openStore(t, cfg)
	for topicType := range want {
		for srcName, src := range codecs {
			t.Run(fmt.Sprintf("%s batch to a %s topic", srcName, topicType), func(t *testing.T) {
				topic := topicType + "-" + srcName
				mustCreate(t, s, topic, 1, map[string]*string{"compression.type": ptr(topicType)})
				p := s.Partition(topic, 0)
				vals := values("v", 50, 1000) // 50 KB: more than one 32 KiB xerial snappy block
				mustAppend(t, p, encodeBatch(t, batchOpts{values: vals, timestamp: 1_700_000_000_000, pid: 7, epoch: 1, seq: 0, codec: src}))
				// A second append of the same batch is a duplicate: the
				// producer state saw the rebuilt batch's header.
				dup, err := p.Append(encodeBatch(t, batchOpts{values: vals, timestamp: 1_700_000_000_000, pid: 7, epoch: 1, seq: 0, codec: src}), false)
				if err != nil || !dup.Duplicate {
					t.Fatalf("resend: %+v %v, want a duplicate", dup, err)
				}
				got := readAll(t, p, 0)
				if len(got) != 1 {
					t.Fatalf("%d batches stored", len(got))
				}
				codec, vs := storedRecords(t, got[0])
				if codec != want[topicType] {
					t.Errorf("stored codec %d, want %d", codec, want[topicType])
				}
				h := parseHeader(got[0])
				if h.producerID != 7 || h.producerEpoch != 1 || h.baseSequence != 0 || h.recordCount != 50 || h.maxTimestamp != 1_700_000_000_049 {
					t.Errorf("stored header %+v", h)
				}
				for i, v := range vs {
					if !bytes.Equal([]byte(v), vals[i]) {
						t.Fatalf("record %d is %q, want %q", i, v, vals[i])
					}
				}
			})
		}
	}
}

func TestCompressionTypeProducerKeepsTheBatch(t *testing.T) {
	s := openStore(t, testConfig(t, 1))
	mustCreate(t, s, "p", 1, map[string]*string{"compression.type": ptr("producer")})
	batch := encodeBatch(t, batchOpts{values: values("v", 10, 100), timestamp: 1, codec: kgo.Lz4Compression()})
	want := bytes.Clone(batch)
	mustAppend(t, s.Partition("p", 0), batch)
	got := readAll(t, s.Partition("p", 0), 0)
	// Only baseOffset and the leader epoch (outside the CRC) may change.
	if !bytes.Equal(got[0][offMagic:], want[offMagic:]) {
		t.Error("compression.type=producer changed the batch")
	}
}

func TestCompressionTypeBadValuesAndLiveChange(t *testing.T) {
	s := openStore(t, testConfig(t, 1))
	for _, v := range []string{"GZIP", "brotli", ""} {
		wantKerr(t, s.CreateTopic("bad", 1, map[string]*string{"compression.type": ptr(v)}), kerr.InvalidConfig)
	}
	p := onePartition(t, s, "live")
	mustAppend(t, p, simple(t, "a", 5, 100))
	if err := s.SetTopicConfigs("live", map[string]*string{"compression.type": ptr("zstd")}); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, p, simple(t, "b", 5, 100))
	got := readAll(t, p, 0)
	if c0, _ := storedRecords(t, got[0]); c0 != 0 {
		t.Errorf("batch before the change stored with codec %d", c0)
	}
	if c1, _ := storedRecords(t, got[1]); c1 != codecZstd {
		t.Errorf("batch after compression.type=zstd stored with codec %d", c1)
	}
	// A batch that grows past max.message.bytes when stored uncompressed
	// is refused, as Kafka's LogValidator refuses it.
	mustCreate(t, s, "small", 1, map[string]*string{"compression.type": ptr("uncompressed"), "max.message.bytes": ptr("2000")})
	big := encodeBatch(t, batchOpts{values: [][]byte{bytes.Repeat([]byte("x"), 5000)}, timestamp: 1, codec: kgo.GzipCompression()})
	if len(big) > 2000 {
		t.Fatalf("test batch of %d bytes is not small compressed", len(big))
	}
	wantKerr(t, appendErr(s.Partition("small", 0), big), kerr.MessageTooLarge)
}

// The batches one append rebuilds may decompress to at most
// MaxDecompressedBytes together, so a request of many small compressed
// batches cannot make the broker hold their expanded size.
func TestRecompressionIsBounded(t *testing.T) {
	cfg := testConfig(t, 1)
	cfg.MaxDecompressedBytes = 64 << 10
	s := openStore(t, cfg)
	mustCreate(t, s, "u", 1, map[string]*string{"compression.type": ptr("uncompressed")})
	p := s.Partition("u", 0)
	one := func() []byte {
		return encodeBatch(t, batchOpts{values: [][]byte{bytes.Repeat([]byte("y"), 30<<10)}, timestamp: 1, codec: kgo.GzipCompression()})
	}
	mustAppend(t, p, append(one(), one()...)) // 60 KiB: within
	err := appendErr(p, append(append(one(), one()...), one()...))
	wantKerr(t, err, kerr.MessageTooLarge)
	if !strings.Contains(err.Error(), "brokerlab.message.max.decompressed.bytes") {
		t.Errorf("error %q does not name the bound", err)
	}
	if p.HighWatermark() != 2 {
		t.Errorf("high watermark %d after a refused append, want 2", p.HighWatermark())
	}
}
