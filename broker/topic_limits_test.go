package broker

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestCreateTopicsWithHugePartitionCounts(t *testing.T) {
	tb := newTestBroker(t)
	rc := dialRaw(t, tb.addr)
	createTopicRaw(t, rc, "other", 1)

	create := func(topics map[string]int32) *kmsg.CreateTopicsResponse {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version = 4
		for name, n := range topics {
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, n, 1
			req.Topics = append(req.Topics, rt)
		}
		return rc.roundTrip(req).(*kmsg.CreateTopicsResponse)
	}
	check := func(resp *kmsg.CreateTopicsResponse, key string) {
		t.Helper()
		for _, st := range resp.Topics {
			if st.ErrorCode != kerr.InvalidPartitions.Code {
				t.Errorf("topic %s: error %v, want INVALID_PARTITIONS", st.Topic, kerr.ErrorForCode(st.ErrorCode))
			}
			if st.ErrorMessage == nil || !strings.Contains(*st.ErrorMessage, key) {
				t.Errorf("topic %s: message %v does not name %s", st.Topic, st.ErrorMessage, key)
			}
		}
	}
	check(create(map[string]int32{"huge": 2147483647}), "brokerlab.create.topics.partitions.max")
	// Together over the per-request bound: neither is created.
	check(create(map[string]int32{"a": 6000, "b": 6000}), "brokerlab.create.topics.partitions.max")

	if p := produceRaw(t, rc, "other", 0, makeBatch(-1, -1, -1, 1, []byte("v"))); p.ErrorCode != 0 {
		t.Fatalf("produce to another topic: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	ents, err := os.ReadDir(tb.cfg.LogDirs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), "other-") && !strings.HasPrefix(e.Name(), "__") {
			t.Errorf("refused creations left %s", e.Name())
		}
		if _, err := os.Stat(filepath.Join(tb.cfg.LogDirs[0], e.Name(), "topic.json")); err == nil && !strings.HasPrefix(e.Name(), "other-") {
			t.Errorf("refused creations left %s/topic.json", e.Name())
		}
	}
	tb = tb.restart(t)
	if _, ok := tb.Store().Topic("other"); !ok {
		t.Fatal("topic other is gone after the restart")
	}
	for _, name := range []string{"huge", "a", "b"} {
		if _, ok := tb.Store().Topic(name); ok {
			t.Errorf("refused topic %s exists after the restart", name)
		}
	}
}

func TestSyncOnAckSyncsOnlyAcksAll(t *testing.T) {
	tb := newTestBroker(t, func(c *Config) { c.FlushSyncOnAck = true })
	rc := dialRaw(t, tb.addr)
	createTopicRaw(t, rc, "s", 1)
	for i := range 5 {
		resp := rc.roundTrip(produceReq("s", 0, 1, makeBatch(-1, -1, -1, int64(i), []byte("one")))).(*kmsg.ProduceResponse)
		if c := resp.Topics[0].Partitions[0].ErrorCode; c != 0 {
			t.Fatalf("acks=1 produce: %v", kerr.ErrorForCode(c))
		}
	}
	if n := tb.Store().Stats().Syncs; n != 0 {
		t.Fatalf("acks=1 produces made %d fdatasyncs, want none (log.flush.sync.on.ack is for acks=-1)", n)
	}
	if p := produceRaw(t, rc, "s", 0, makeBatch(-1, -1, -1, 9, []byte("all"))); p.ErrorCode != 0 {
		t.Fatalf("acks=-1 produce: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if n := tb.Store().Stats().Syncs; n == 0 {
		t.Fatal("an acks=-1 produce was answered without an fdatasync")
	}
}

func TestProduceCompressionBombGetsMessageTooLarge(t *testing.T) {
	tb := newTestBroker(t)
	rc := dialRaw(t, tb.addr)
	createTopicRaw(t, rc, "bomb", 1)
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	// 64 MiB of zeros, four times brokerlab.message.max.decompressed.bytes.
	if _, err := zw.Write(make([]byte, 64<<20)); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	rb := kmsg.RecordBatch{Attributes: 4, PartitionLeaderEpoch: -1, Magic: 2, ProducerID: -1, ProducerEpoch: -1,
		FirstSequence: -1, NumRecords: 1, Records: buf.Bytes()}
	raw := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	if p := produceRaw(t, rc, "bomb", 0, raw); p.ErrorCode != kerr.MessageTooLarge.Code {
		t.Fatalf("a zstd bomb got %v, want MESSAGE_TOO_LARGE", kerr.ErrorForCode(p.ErrorCode))
	}
	if p := produceRaw(t, rc, "bomb", 0, makeBatch(-1, -1, -1, 1, []byte("fine"))); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("the next produce: %v at offset %d, want offset 0 (nothing of the bomb stored)", kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
	}
}
