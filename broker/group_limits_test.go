package broker

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// commitRaw sends a simple OffsetCommit v8 (generation -1) of one partition
// and returns its error code.
func commitRaw(tb testing.TB, rc *rawConn, group, topic string, partition int32, offset int64) int16 {
	tb.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 8
	req.Group, req.Generation = group, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch = partition, offset, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return rc.roundTrip(req).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
}

// fetchCommitted returns group's committed offset of topic/partition (-1:
// none), with OffsetFetch v7.
func fetchCommitted(tb testing.TB, rc *rawConn, group, topic string, partition int32) int64 {
	tb.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 7
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{partition}
	req.Topics = append(req.Topics, rt)
	resp := rc.roundTrip(req).(*kmsg.OffsetFetchResponse)
	return resp.Topics[0].Partitions[0].Offset
}

// forgingGroupID builds the 65,549-byte group id of the forging attack: the
// offsets log's first layout stored its length as uint16 (65549 & 0xffff =
// 13), so it read back as the 13-byte group "victim-group1" followed by a
// topic and a metadata length chosen to swallow the rest of the record:
// a commit of victim-group1 that no client sent.
func forgingGroupID(victim, topic string) string {
	const total = 65549
	var b []byte
	b = append(b, victim...) // len(victim) == total & 0xffff
	b = binary.BigEndian.AppendUint16(b, uint16(len(topic)))
	b = append(b, topic...)
	filler := total - len(b) - 4
	// The metadata covers the filler, then the real topic field
	// (uint16 length + topic) and the real metadata field (int32 -1).
	b = binary.BigEndian.AppendUint32(b, uint32(filler+2+len(topic)+4))
	b = append(b, strings.Repeat("x", filler)...)
	return string(b)
}

// TestOverlongGroupIDsCannotForgeOrLoseCommits replays two attacks on the
// offsets log: a 65,549-byte group id crafted to decode, after a restart,
// as another group's commit, and a 70,000-byte one that made the restart
// drop every commit written after it. Both requests get INVALID_GROUP_ID;
// after a restart no forged commit exists and every other group's commits,
// before and after the attacks, are there.
func TestOverlongGroupIDsCannotForgeOrLoseCommits(t *testing.T) {
	b := newTestBroker(t)
	rc := dialRaw(t, b.addr)
	const topic, victim = "orders", "victim-group1"
	createTopicRaw(t, rc, topic, 1)

	if c := commitRaw(t, rc, "before", topic, 0, 11); c != 0 {
		t.Fatalf("commit of group before: %v", kerr.ErrorForCode(c))
	}
	forged := forgingGroupID(victim, topic)
	if len(forged) != 65549 {
		t.Fatalf("forging group id is %d bytes", len(forged))
	}
	if c := commitRaw(t, rc, forged, topic, 0, 999999); c != kerr.InvalidGroupID.Code {
		t.Errorf("commit with a 65,549-byte group id: %v, want INVALID_GROUP_ID", kerr.ErrorForCode(c))
	}
	if c := commitRaw(t, rc, strings.Repeat("a", 70000), topic, 0, 5); c != kerr.InvalidGroupID.Code {
		t.Errorf("commit with a 70,000-byte group id: %v, want INVALID_GROUP_ID", kerr.ErrorForCode(c))
	}
	if c := commitRaw(t, rc, "after", topic, 0, 22); c != 0 {
		t.Fatalf("commit of group after: %v", kerr.ErrorForCode(c))
	}
	// The longest id Kafka's own record can hold still works.
	longest := strings.Repeat("k", 32767)
	if c := commitRaw(t, rc, longest, topic, 0, 33); c != 0 {
		t.Fatalf("commit with a 32,767-byte group id: %v", kerr.ErrorForCode(c))
	}

	b = b.restart(t)
	rc = dialRaw(t, b.addr)
	for _, want := range []struct {
		group  string
		offset int64
	}{{"before", 11}, {"after", 22}, {longest, 33}, {victim, -1}} {
		if got := fetchCommitted(t, rc, want.group, topic, 0); got != want.offset {
			t.Errorf("after restart, group %.20q has offset %d, want %d", want.group, got, want.offset)
		}
	}
}

// TestInitialRebalanceDelayOneGeneration: three members that join an empty
// group together are answered in one generation, with
// group.initial.rebalance.delay.ms set small (each join extends the wait,
// so only the gap between two joins must stay under it).
func TestInitialRebalanceDelayOneGeneration(t *testing.T) {
	b := newTestBroker(t, func(c *Config) { c.GroupInitialRebalanceDelay = time.Second })
	join := func() *kmsg.JoinGroupRequest {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Version = 3 // no MEMBER_ID_REQUIRED round trip
		req.Group, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = "together", 10000, 60000
		req.ProtocolType = "consumer"
		meta := kmsg.NewConsumerMemberMetadata()
		meta.Topics = []string{"t"}
		req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: meta.AppendTo(nil)}}
		return req
	}
	var conns []*rawConn
	var corrs []int32
	for i := 0; i < 3; i++ {
		rc := dialRaw(t, b.addr)
		conns = append(conns, rc)
		corrs = append(corrs, rc.send(join()))
	}
	leaders := 0
	for i, rc := range conns {
		body, err := rc.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := decodeResponse(join(), corrs[i], body)
		if err != nil {
			t.Fatal(err)
		}
		r := resp.(*kmsg.JoinGroupResponse)
		if r.ErrorCode != 0 || r.Generation != 1 {
			t.Fatalf("member %d: %v generation %d, want generation 1", i, kerr.ErrorForCode(r.ErrorCode), r.Generation)
		}
		if r.LeaderID == r.MemberID {
			leaders++
			if len(r.Members) != 3 {
				t.Fatalf("leader sees %d members, want 3", len(r.Members))
			}
		}
	}
	if leaders != 1 {
		t.Fatalf("%d leaders", leaders)
	}
}

// TestJoinGroupMetadataBound: a JoinGroup whose protocols exceed
// brokerlab.group.protocol.metadata.max.bytes gets INVALID_REQUEST (the
// member is not kept); one within it joins.
func TestJoinGroupMetadataBound(t *testing.T) {
	props := []Property{
		{Key: "brokerlab.group.protocol.metadata.max.bytes", Value: "4096", Line: 1},
		{Key: "group.initial.rebalance.delay.ms", Value: "0", Line: 2},
		{Key: "log.dirs", Value: t.TempDir(), Line: 3},
	}
	cfg, _, err := ConfigFromProperties(props, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := startTestBroker(t, cfg)
	rc := dialRaw(t, b.addr)
	join := func(metaLen int) *kmsg.JoinGroupResponse {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Version = 3
		req.Group, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = "bounded", 10000, 10000
		req.ProtocolType = "consumer"
		req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: make([]byte, metaLen)}}
		return rc.roundTrip(req).(*kmsg.JoinGroupResponse)
	}
	if r := join(4096); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("join with 4096 bytes of metadata (+ names above the bound): %v, want INVALID_REQUEST", kerr.ErrorForCode(r.ErrorCode))
	}
	dg := rc.roundTrip(&kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{"bounded"}}).(*kmsg.DescribeGroupsResponse)
	if n := len(dg.Groups[0].Members); n != 0 {
		t.Fatalf("refused join left %d members", n)
	}
	if r := join(4000); r.ErrorCode != 0 || r.Generation != 1 {
		t.Fatalf("join within the bound: %v generation %d", kerr.ErrorForCode(r.ErrorCode), r.Generation)
	}
}
