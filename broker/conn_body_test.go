package broker

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// requestBody encodes req as a frame body (no size prefix), as a client sends it.
func requestBody(req kmsg.Request) []byte {
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("body-test")).AppendRequest(nil, req, 1)[4:]
}

// TestBodyUse checks the classification: every API the broker serves whose
// request carries bytes is either copied or one of the audited borrowers,
// and the poisoning that the ownership test relies on does catch a request
// that shares its body.
func TestBodyUse(t *testing.T) {
	for _, a := range registeredAPIs() {
		req := kmsg.RequestForKey(a.key)
		if hasBytes(reflect.TypeOf(req), map[reflect.Type]bool{}) && useOf(a.key) == bodyInPlace {
			t.Errorf("%s has byte fields but is decoded in place", kmsg.NameForKey(a.key))
		}
	}
	if useOf(kmsg.JoinGroup.Int16()) != bodyCopied || useOf(kmsg.SyncGroup.Int16()) != bodyCopied {
		t.Error("JoinGroup and SyncGroup keep member metadata and assignments: they must be copied")
	}

	join := kmsg.NewPtrJoinGroupRequest()
	join.Version = 5
	join.Group, join.ProtocolType, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = "g", "consumer", 10000, 10000
	proto := kmsg.NewJoinGroupRequestProtocol()
	proto.Name, proto.Metadata = "range", []byte("member metadata")
	join.Protocols = append(join.Protocols, proto)

	// Decoded where it lies, the metadata shares the body: poisoning the
	// released body shows in the request. This is the bug the ownership
	// test below would catch in a handler that borrows and keeps.
	body := requestBody(join)
	_, shared, err := parseRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	poison(body)
	if got := shared.(*kmsg.JoinGroupRequest).Protocols[0].Metadata; bytes.Equal(got, proto.Metadata) {
		t.Fatal("poisoning the body did not change metadata decoded in place: the ownership test could not catch reuse")
	}
	// Through the connection, JoinGroup decodes from its own copy.
	cc := &Conn{}
	body = requestBody(join)
	_, owned, err := cc.parse(body)
	if err != nil {
		t.Fatal(err)
	}
	poison(body)
	if got := owned.(*kmsg.JoinGroupRequest).Protocols[0].Metadata; !bytes.Equal(got, proto.Metadata) {
		t.Errorf("JoinGroup metadata changed with the released body: %q", got)
	}
}

// TestBodyOwnership runs real clients with every released request body
// overwritten (poisonReleasedBodies): records produced in requests of every
// size class (in the read buffer, pooled, grown), group membership and
// committed offsets must all read back intact. A handler or the log keeping
// a byte of a request past its response would read poison here.
func TestBodyOwnership(t *testing.T) {
	poisonReleasedBodies = true
	t.Cleanup(func() { poisonReleasedBodies = false })
	b := newTestBroker(t)
	ctx := testContext(t, 60*time.Second)

	prod := newClient(t, b.addr, kgo.DefaultProduceTopic("owned"), kgo.AllowAutoTopicCreation(),
		kgo.ProducerLinger(0), kgo.ProducerBatchMaxBytes(4<<20), kgo.ProducerBatchCompression(kgo.NoCompression()))
	var want [][]byte
	for i, size := range []int{10, 1000, 12 << 10, 100 << 10, 900 << 10} {
		v := bytes.Repeat([]byte{byte('a' + i)}, size)
		want = append(want, v)
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Several records in one request, past the read buffer.
	var batch []*kgo.Record
	for i := range 50 {
		v := bytes.Repeat([]byte{byte('A' + i%26)}, 1000+i)
		want = append(want, v)
		batch = append(batch, &kgo.Record{Value: v})
	}
	if err := prod.ProduceSync(ctx, batch...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	cons := newClient(t, b.addr, kgo.ConsumeTopics("owned"), kgo.ConsumerGroup("owners"),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.DisableAutoCommit())
	var got [][]byte
	for len(got) < len(want) && ctx.Err() == nil {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil && ctx.Err() == nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r.Value) })
	}
	if len(got) != len(want) {
		t.Fatalf("consumed %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d (%d bytes) does not read back as produced", i, len(want[i]))
		}
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 5
	req.Group = "owners"
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = "owned", []int32{0}
	req.Topics = append(req.Topics, rt)
	resp := dialRaw(t, b.addr).roundTrip(req).(*kmsg.OffsetFetchResponse)
	if off := resp.Topics[0].Partitions[0].Offset; off != int64(len(want)) {
		t.Errorf("committed offset %d, want %d", off, len(want))
	}
}

// TestFetchCopyLargeResponse reads a Fetch response larger than the
// connection keeps a buffer for (maxPooledWrite) in copy mode, which then
// goes out in runs of pread+write instead of one write.
func TestFetchCopyLargeResponse(t *testing.T) {
	b := newTestBroker(t, func(c *Config) { c.FetchMode = FetchModeCopy })
	ctx := testContext(t, 60*time.Second)
	prod := newClient(t, b.addr, kgo.DefaultProduceTopic("big"), kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	var want [][]byte
	for i := range 3 {
		v := bytes.Repeat([]byte{byte('x' + i)}, 600<<10)
		want = append(want, v)
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cons := newClient(t, b.addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"big": {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxBytes(8<<20), kgo.FetchMaxPartitionBytes(8<<20), kgo.FetchMinBytes(3*600<<10), kgo.FetchMaxWait(5*time.Second))
	var got [][]byte
	for len(got) < len(want) && ctx.Err() == nil {
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, r.Value) })
	}
	for i := range want {
		if i >= len(got) || !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d does not read back as produced", i)
		}
	}
	if got := metricValue(t, b.metrics.fetchCopyBytes); got < 3*600<<10 {
		t.Errorf("fetch_copy_bytes_total = %v, want at least %d", got, 3*600<<10)
	}
}
