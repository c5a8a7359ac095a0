package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// TestOffsetsTopicReadsAsEmpty: once Metadata lists __consumer_offsets,
// Fetch and ListOffsets answer its partitions as an empty log, so a
// consumer subscribed to it beside a user topic consumes the user topic
// without errors, and kcat reads it to its end and exits.
// consumeOnly polls cl until it has n records, failing on a fetch error or
// a record of a topic other than topic.
func consumeOnly(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, n int) {
	t.Helper()
	testutil.PollRecords(ctx, t, cl, n, func(r *kgo.Record) {
		if r.Topic != topic {
			t.Errorf("consumer got a record of %s, want only %s", r.Topic, topic)
		}
	})
}

func TestOffsetsTopicReadsAsEmpty(t *testing.T) {
	kc := requireKcat(t)
	b := newTestBroker(t, func(c *Config) { c.GroupInitialRebalanceDelay = 0 })
	ctx := testContext(t, 60*time.Second)
	adm := newAdmin(t, b.addr)
	createTopic(t, b.addr, "user", 1, nil)
	produceValues(t, b.addr, "user", "u", 0, 5)

	rc := dialRaw(t, b.addr)
	listOffsets := func(ts int64, partition int32) kmsg.ListOffsetsResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version = 7
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = offsetsTopicName
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = partition, ts
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return rc.roundTrip(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	}
	// Not listed yet: unknown, as in Metadata.
	if p := listOffsets(-1, 0); p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("ListOffsets before the topic is listed: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if _, err := adm.FetchOffsets(ctx, "some-group"); err != nil { // FindCoordinator
		t.Fatal(err)
	}
	for _, c := range []struct {
		ts, offset int64
		partition  int32
		code       int16
	}{{-2, 0, 0, 0}, {-1, 0, 49, 0}, {-3, -1, 3, 0}, {1000, -1, 3, 0}, {-1, -1, 50, kerr.UnknownTopicOrPartition.Code}} {
		if p := listOffsets(c.ts, c.partition); p.Offset != c.offset || p.ErrorCode != c.code {
			t.Errorf("ListOffsets %s-%d at %d: offset %d %v, want %d %v", offsetsTopicName, c.partition, c.ts, p.Offset, kerr.ErrorForCode(p.ErrorCode), c.offset, kerr.ErrorForCode(c.code))
		}
	}
	fetch := func(offset int64) kmsg.FetchResponseTopicPartition {
		t.Helper()
		req := fetchOne(12, offsetsTopicName, 7, offset, 1<<20)
		req.MaxWaitMillis, req.MinBytes = 10, 1
		return rc.roundTrip(req).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	}
	if p := fetch(0); p.ErrorCode != 0 || p.HighWatermark != 0 || p.LogStartOffset != 0 || len(p.RecordBatches) != 0 {
		t.Errorf("Fetch at 0: %v hwm %d start %d %d bytes", kerr.ErrorForCode(p.ErrorCode), p.HighWatermark, p.LogStartOffset, len(p.RecordBatches))
	}
	if p := fetch(5); p.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Errorf("Fetch at 5: %v, want OFFSET_OUT_OF_RANGE", kerr.ErrorForCode(p.ErrorCode))
	}

	// A consumer of both topics gets the user topic's records and no error.
	cl := newClient(t, b.addr, kgo.ConsumeTopics("user", offsetsTopicName), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	consumeOnly(ctx, t, cl, "user", 5)

	// kcat reads every partition to its end and exits.
	if out := kc.run(ctx, t, b.addr, "", "-t", offsetsTopicName, "-C", "-o", "beginning", "-e", "-q"); out != "" {
		t.Errorf("kcat -C -t %s -e: %q", offsetsTopicName, out)
	}
}
