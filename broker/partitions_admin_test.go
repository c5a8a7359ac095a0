package broker

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// TestCreatePartitions grows a topic through kadm, produces to and
// consumes from the new partitions with franz-go, restarts, and checks the
// errors Kafka gives for bad requests.
func TestCreatePartitions(t *testing.T) {
	b := newTestBroker(t, func(c *Config) { c.MaxBrokerPartitions = 10; c.CreateTopicsMaxPartitions = 6 })
	ctx := testContext(t, 60*time.Second)
	adm := newAdmin(t, b.addr)
	createTopic(t, b.addr, "grow", 2, map[string]*string{"retention.bytes": kmsg.StringPtr("1048576")})

	vr, err := adm.ValidateCreatePartitions(ctx, 2, "grow")
	if err != nil || vr["grow"].Err != nil {
		t.Fatalf("validate only: %v %v", err, vr["grow"].Err)
	}
	if ti, _ := b.Store().Topic("grow"); ti.Partitions != 2 {
		t.Fatalf("validate only grew the topic to %d", ti.Partitions)
	}
	r, err := adm.CreatePartitions(ctx, 2, "grow") // adds 2: 4 in all
	if err != nil || r["grow"].Err != nil {
		t.Fatalf("CreatePartitions: %v %v", err, r["grow"].Err)
	}
	r, err = adm.UpdatePartitions(ctx, 5, "grow") // to 5 in all
	if err != nil || r["grow"].Err != nil {
		t.Fatalf("UpdatePartitions: %v %v", err, r["grow"].Err)
	}

	// A producer picks up the new partitions from Metadata.
	cl := newClient(t, b.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := int32(0); p < 5; p++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "grow", Partition: p, Value: []byte{byte(p)}}).FirstErr(); err != nil {
			t.Fatalf("producing to partition %d: %v", p, err)
		}
	}
	tds, err := adm.ListTopics(ctx, "grow")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tds["grow"].Partitions); n != 5 {
		t.Fatalf("Metadata lists %d partitions, want 5", n)
	}
	dc, err := adm.DescribeTopicConfigs(ctx, "grow")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := dc.On("grow", nil); v.Err != nil {
		t.Fatal(v.Err)
	}

	b = b.restart(t)
	adm = newAdmin(t, b.addr)
	offs, err := adm.ListEndOffsets(ctx, "grow")
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 5; p++ {
		if o, ok := offs.Lookup("grow", p); !ok || o.Offset != 1 {
			t.Errorf("after restart partition %d ends at %+v, want 1", p, o)
		}
	}
	if ti, _ := b.Store().Topic("grow"); ti.Configs["retention.bytes"] != "1048576" {
		t.Errorf("configs after growth and restart: %v", ti.Configs)
	}

	t.Run("bad requests get Kafka's errors", func(t *testing.T) {
		rc := dialRaw(t, b.addr)
		createTopicRaw(t, rc, "small", 1)
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.Version = 3
		add := func(topic string, count int32, assign ...[]int32) {
			req.Topics = append(req.Topics, growTopic(topic, count, assign...))
		}
		add("grow", 5)
		add("grow", 4)
		add("missing", 3)
		add("__consumer_offsets", 60)
		add("small", 3, []int32{b.cfg.NodeID})
		add("small", 0) // named twice with "small" above
		resp := rc.roundTrip(req).(*kmsg.CreatePartitionsResponse)
		want := map[string]int16{
			"grow":               kerr.InvalidRequest.Code,
			"missing":            kerr.UnknownTopicOrPartition.Code,
			"__consumer_offsets": kerr.InvalidPartitions.Code,
			"small":              kerr.InvalidRequest.Code,
		}
		for _, rt := range resp.Topics {
			if rt.ErrorCode != want[rt.Topic] || rt.ErrorMessage == nil {
				t.Errorf("%s: %v (%v), want %v", rt.Topic, kerr.ErrorForCode(rt.ErrorCode), rt.ErrorMessage, kerr.ErrorForCode(want[rt.Topic]))
			}
		}

		one := func(topic string, count int32, validate bool, assign ...[]int32) kmsg.CreatePartitionsResponseTopic {
			t.Helper()
			req := kmsg.NewPtrCreatePartitionsRequest()
			req.Version, req.ValidateOnly = 3, validate
			req.Topics = []kmsg.CreatePartitionsRequestTopic{growTopic(topic, count, assign...)}
			return rc.roundTrip(req).(*kmsg.CreatePartitionsResponse).Topics[0]
		}
		for _, c := range []struct {
			name     string
			topic    string
			count    int32
			validate bool
			assign   [][]int32
			want     *kerr.Error
			message  string
		}{
			{"the same count", "grow", 5, false, nil, kerr.InvalidPartitions, "Topic already has 5 partition(s)."},
			{"fewer", "grow", 4, false, nil, kerr.InvalidPartitions, "The topic grow currently has 5 partition(s); 4 would not be an increase."},
			{"an assignment of the wrong length", "small", 3, false, [][]int32{{b.cfg.NodeID}}, kerr.InvalidReplicaAssignment, "Attempted to add 2 additional partition(s), but only 1 assignment(s) were specified."},
			{"another broker", "small", 2, false, [][]int32{{b.cfg.NodeID + 1}}, kerr.InvalidReplicaAssignment, ""},
			{"two replicas", "small", 2, false, [][]int32{{b.cfg.NodeID, b.cfg.NodeID}}, kerr.InvalidReplicaAssignment, ""},
			{"more than one request may add", "small", 8, false, nil, kerr.InvalidPartitions, "brokerlab.create.topics.partitions.max=6"},
			{"more than the broker may hold, validate only", "small", 7, true, nil, kerr.InvalidPartitions, "max.broker.partitions=10"},
			{"more than the broker may hold", "small", 7, false, nil, kerr.InvalidPartitions, "max.broker.partitions=10"},
		} {
			got := one(c.topic, c.count, c.validate, c.assign...)
			if got.ErrorCode != c.want.Code || got.ErrorMessage == nil || !strings.Contains(*got.ErrorMessage, c.message) {
				t.Errorf("%s: %v %v, want %v with %q", c.name, kerr.ErrorForCode(got.ErrorCode), testutil.StringOrNil(got.ErrorMessage), c.want, c.message)
			}
		}
		if ti, _ := b.Store().Topic("small"); ti.Partitions != 1 {
			t.Errorf("refused growths changed small to %d partitions", ti.Partitions)
		}
		if got := one("small", 2, false, []int32{b.cfg.NodeID}); got.ErrorCode != 0 {
			t.Errorf("growth with a valid assignment: %v", testutil.StringOrNil(got.ErrorMessage))
		}
	})
}

// growTopic is one topic of a CreatePartitions request.
func growTopic(topic string, count int32, assign ...[]int32) kmsg.CreatePartitionsRequestTopic {
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = topic, count
	for _, a := range assign {
		ra := kmsg.NewCreatePartitionsRequestTopicAssignment()
		ra.Replicas = a
		rt.Assignment = append(rt.Assignment, ra)
	}
	return rt
}

// TestDeleteRecords deletes the head of a partition through kadm and
// checks what Fetch, ListOffsets and a franz-go consumer see, before and
// after a restart, and the errors of bad requests.
func TestDeleteRecords(t *testing.T) {
	b := newTestBroker(t)
	ctx := testContext(t, 60*time.Second)
	adm := newAdmin(t, b.addr)
	createTopic(t, b.addr, "head", 1, map[string]*string{"segment.bytes": kmsg.StringPtr("200")})
	cl := newClient(t, b.addr, kgo.DefaultProduceTopic("head"), kgo.MaxBufferedRecords(1))
	for i := range 30 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strings.Repeat("x", 40) + string(rune('a'+i%26)))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	segsBefore := len(b.Store().Partition("head", 0).Segments())
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "head", Partition: 0, At: 17})
	dr, err := adm.DeleteRecords(ctx, os)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := dr.Lookup("head", 0); r.Err != nil || r.LowWatermark != 17 {
		t.Fatalf("DeleteRecords: %+v", r)
	}
	if n := len(b.Store().Partition("head", 0).Segments()); n >= segsBefore {
		t.Errorf("%d segments after DeleteRecords, had %d: the whole ones below 17 must go", n, segsBefore)
	}

	check := func(b *testBroker) {
		t.Helper()
		adm := newAdmin(t, b.addr)
		so, err := adm.ListStartOffsets(ctx, "head")
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := so.Lookup("head", 0); o.Offset != 17 {
			t.Errorf("ListOffsets earliest %d, want 17", o.Offset)
		}
		rc := dialRaw(t, b.addr)
		fr := rc.roundTrip(fetchOne(12, "head", 0, 16, 1<<20)).(*kmsg.FetchResponse)
		if sp := fr.Topics[0].Partitions[0]; sp.ErrorCode != kerr.OffsetOutOfRange.Code || sp.LogStartOffset != 17 {
			t.Errorf("Fetch below the start: %v, log start %d; want OFFSET_OUT_OF_RANGE and 17", kerr.ErrorForCode(sp.ErrorCode), sp.LogStartOffset)
		}
		// A consumer from the start gets offsets 17..29.
		cons := newClient(t, b.addr, kgo.ConsumeTopics("head"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		var got []int64
		testutil.PollRecords(ctx, t, cons, 13, func(r *kgo.Record) { got = append(got, r.Offset) })
		if got[0] != 17 || got[len(got)-1] != 29 || len(got) != 13 {
			t.Errorf("consumed offsets %v, want 17..29", got)
		}
	}
	check(b)
	b = b.restart(t)
	check(b)

	t.Run("bad requests get Kafka's errors", func(t *testing.T) {
		rc := dialRaw(t, b.addr)
		req := kmsg.NewPtrDeleteRecordsRequest()
		req.Version = 2
		add := func(topic string, partition int32, offset int64) {
			rt := kmsg.NewDeleteRecordsRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewDeleteRecordsRequestTopicPartition()
			rp.Partition, rp.Offset = partition, offset
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
		}
		add("head", 0, -2)
		add("head", 0, 31)
		add("head", 1, 20)
		add("missing", 0, 1)
		add("head", 0, 3) // below the start: unchanged
		resp := rc.roundTrip(req).(*kmsg.DeleteRecordsResponse)
		want := []struct {
			code int16
			lw   int64
		}{{kerr.OffsetOutOfRange.Code, -1}, {kerr.OffsetOutOfRange.Code, -1}, {kerr.UnknownTopicOrPartition.Code, -1}, {kerr.UnknownTopicOrPartition.Code, -1}, {0, 17}}
		for i, rt := range resp.Topics {
			sp := rt.Partitions[0]
			if sp.ErrorCode != want[i].code || sp.LowWatermark != want[i].lw {
				t.Errorf("%s-%d: %v low watermark %d, want %v %d", rt.Topic, sp.Partition, kerr.ErrorForCode(sp.ErrorCode), sp.LowWatermark, kerr.ErrorForCode(want[i].code), want[i].lw)
			}
		}
	})
}

// TestCreateTopicsV7TopicID: v7 answers the created topic's id, the one
// Metadata reports.
func TestCreateTopicsV7TopicID(t *testing.T) {
	b := newTestBroker(t)
	rc := dialRaw(t, b.addr)
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = 7
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "with-id", 2, 1
	req.Topics = append(req.Topics, rt)
	resp := rc.roundTrip(req).(*kmsg.CreateTopicsResponse)
	ti, ok := b.Store().Topic("with-id")
	if !ok || resp.Topics[0].ErrorCode != 0 || resp.Topics[0].TopicID != ti.ID || ti.ID == ([16]byte{}) {
		t.Fatalf("v7 answer %+v, topic %+v", resp.Topics[0], ti)
	}
}
