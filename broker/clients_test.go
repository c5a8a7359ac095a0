package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// TestClients runs one suite of franz-go expectations against this broker
// and against kfake, franz-go's in-process fake: the expectations are the
// clients', so both must pass them.
func TestClients(t *testing.T) {
	t.Run("brokerlab", func(t *testing.T) {
		b := newTestBroker(t)
		clientSuite(t, b.addr)
	})
	t.Run("kfake", func(t *testing.T) {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		clientSuite(t, c.ListenAddrs()[0])
	})
}

func clientSuite(t *testing.T, addr string) {
	ctx := testContext(t, 90*time.Second)
	adm := newAdmin(t, addr)

	// consume reads n records from the given partition offsets.
	consume := func(t *testing.T, parts map[string]map[int32]kgo.Offset, n int) []*kgo.Record {
		t.Helper()
		cl := newClient(t, addr, kgo.ConsumePartitions(parts), kgo.FetchMaxWait(200*time.Millisecond))
		var got []*kgo.Record
		testutil.PollRecords(ctx, t, cl, n, func(r *kgo.Record) { got = append(got, r) })
		return got
	}

	t.Run("an idempotent producer's records come back exactly once and in order", func(t *testing.T) {
		const topic, parts, n = "idempotent", 4, 4000
		createTopic(t, addr, topic, parts, nil)
		prod := newClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
		var recs []*kgo.Record
		for i := range n {
			recs = append(recs, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte(fmt.Sprintf("value-%06d", i))})
		}
		// Several produce calls, so batches to each partition follow one another.
		for i := 0; i < n; i += 500 {
			if err := prod.ProduceSync(ctx, recs[i:i+500]...).FirstErr(); err != nil {
				t.Fatalf("producing: %v", err)
			}
		}
		got := consume(t, map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart(), 2: kgo.NewOffset().AtStart(), 3: kgo.NewOffset().AtStart()}}, n)
		if len(got) != n {
			t.Fatalf("consumed %d records, want %d", len(got), n)
		}
		seen := map[string]bool{}
		next := map[int32]int64{}
		lastVal := map[int32]string{}
		for _, r := range got {
			if r.Offset != next[r.Partition] {
				t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
			}
			next[r.Partition]++
			if seen[string(r.Value)] {
				t.Fatalf("record %s twice", r.Value)
			}
			seen[string(r.Value)] = true
			if string(r.Value) <= lastVal[r.Partition] {
				t.Fatalf("partition %d: %s after %s", r.Partition, r.Value, lastVal[r.Partition])
			}
			lastVal[r.Partition] = string(r.Value)
			i, _ := strconv.Atoi(string(r.Key))
			if string(r.Value) != fmt.Sprintf("value-%06d", i) {
				t.Fatalf("key %s has value %s", r.Key, r.Value)
			}
		}
		if len(next) != parts {
			t.Errorf("records went to %d partitions, want %d", len(next), parts)
		}
	})

	t.Run("a partition is consumed from the start, an offset and the end", func(t *testing.T) {
		const topic = "direct"
		createTopic(t, addr, topic, 1, nil)
		prod := newClient(t, addr, kgo.DefaultProduceTopic(topic))
		produce := func(from, to int) {
			for i := from; i < to; i++ {
				if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
		}
		produce(0, 10)
		values := func(rs []*kgo.Record) (out []string) {
			for _, r := range rs {
				out = append(out, fmt.Sprintf("%d:%s", r.Offset, r.Value))
			}
			return out
		}
		got := values(consume(t, map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}, 10))
		if fmt.Sprint(got) != "[0:0 1:1 2:2 3:3 4:4 5:5 6:6 7:7 8:8 9:9]" {
			t.Errorf("from start: %v", got)
		}
		got = values(consume(t, map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(7)}}, 3))
		if fmt.Sprint(got) != "[7:7 8:8 9:9]" {
			t.Errorf("from offset 7: %v", got)
		}
		cl := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtEnd()}}), kgo.FetchMaxWait(200*time.Millisecond))
		// The consumer resolves "end" with ListOffsets before it fetches;
		// wait until it has, then produce.
		pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		if fs := cl.PollFetches(pctx); len(fs.Records()) != 0 {
			t.Fatalf("records before producing: %v", values(fs.Records()))
		}
		pcancel()
		produce(10, 13)
		var end []*kgo.Record
		for len(end) < 3 && ctx.Err() == nil {
			end = append(end, cl.PollFetches(ctx).Records()...)
		}
		if fmt.Sprint(values(end)) != "[10:10 11:11 12:12]" {
			t.Errorf("from end: %v", values(end))
		}
	})

	t.Run("ListOffsets answers earliest, latest and by timestamp", func(t *testing.T) {
		const topic = "offsets"
		createTopic(t, addr, topic, 1, nil)
		prod := newClient(t, addr, kgo.DefaultProduceTopic(topic))
		base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
		for i := range 5 {
			r := &kgo.Record{Value: []byte("x"), Timestamp: base.Add(time.Duration(i) * time.Minute)}
			if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		check := func(what string, lo kadm.ListedOffsets, err error, want int64) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			o, ok := lo.Lookup(topic, 0)
			if !ok || o.Err != nil || o.Offset != want {
				t.Errorf("%s: %+v, want offset %d", what, o, want)
			}
		}
		lo, err := adm.ListStartOffsets(ctx, topic)
		check("earliest", lo, err, 0)
		lo, err = adm.ListEndOffsets(ctx, topic)
		check("latest", lo, err, 5)
		lo, err = adm.ListOffsetsAfterMilli(ctx, base.Add(150*time.Second).UnixMilli(), topic)
		check("after 2.5 minutes", lo, err, 3)
		lo, err = adm.ListOffsetsAfterMilli(ctx, base.UnixMilli(), topic)
		check("at the first timestamp", lo, err, 0)
		lo, err = adm.ListOffsetsAfterMilli(ctx, base.Add(time.Hour).UnixMilli(), topic)
		check("after the last timestamp", lo, err, 5) // kadm maps "none" to the end offset
	})

	t.Run("topics are created, described and deleted with kadm", func(t *testing.T) {
		const topic = "admin"
		ms := "12345"
		createTopic(t, addr, topic, 3, map[string]*string{"retention.ms": &ms})
		if resp, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err == nil && !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
			t.Errorf("creating it again: %v, want TOPIC_ALREADY_EXISTS", resp.Err)
		}
		if resp, err := adm.ValidateCreateTopics(ctx, 2, 1, nil, "validate-only"); err != nil || resp["validate-only"].Err != nil {
			t.Errorf("validate only: %v %v", err, resp)
		}
		if td, err := adm.ListTopics(ctx, "validate-only"); err == nil && td.Has("validate-only") {
			t.Error("validate only created the topic")
		}
		td, err := adm.ListTopics(ctx, topic)
		if err != nil || len(td[topic].Partitions) != 3 {
			t.Fatalf("listing %s: %v %+v", topic, err, td[topic])
		}
		rcs, err := adm.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On(topic, nil)
		if err != nil || rc.Err != nil {
			t.Fatalf("describing %s: %v %v", topic, err, rc.Err)
		}
		var found bool
		for _, c := range rc.Configs {
			if c.Key == "retention.ms" {
				found = true
				if c.MaybeValue() != "12345" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
					t.Errorf("retention.ms = %q from %v, want 12345 from DYNAMIC_TOPIC_CONFIG", c.MaybeValue(), c.Source)
				}
			}
		}
		if !found {
			t.Errorf("retention.ms not described: %+v", rc.Configs)
		}
		if _, err := adm.DescribeBrokerConfigs(ctx); err != nil {
			t.Errorf("describing broker configs: %v", err)
		}
		dr, err := adm.DeleteTopics(ctx, topic)
		if err != nil || dr[topic].Err != nil {
			t.Fatalf("deleting: %v %v", err, dr[topic].Err)
		}
		dr, err = adm.DeleteTopics(ctx, topic)
		if err == nil && !errors.Is(dr[topic].Err, kerr.UnknownTopicOrPartition) {
			t.Errorf("deleting it again: %v, want UNKNOWN_TOPIC_OR_PARTITION", dr[topic].Err)
		}
	})
}
