package broker

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestDeleteGroupsOffsetDeleteAndListFilters drives DeleteGroups,
// OffsetDelete and ListGroups' state filter through kadm, against a live
// consumer group and an empty one.
func TestDeleteGroupsOffsetDeleteAndListFilters(t *testing.T) {
	b := newTestBroker(t, func(c *Config) { c.GroupInitialRebalanceDelay = 0 })
	ctx := testContext(t, 60*time.Second)
	adm := newAdmin(t, b.addr)
	createTopic(t, b.addr, "subscribed", 2, nil)
	createTopic(t, b.addr, "other", 1, nil)

	// "idle": offsets on both topics, no members.
	commit := func(group string) {
		t.Helper()
		os := kadm.Offsets{}
		os.Add(kadm.Offset{Topic: "subscribed", Partition: 0, At: 5, LeaderEpoch: -1})
		os.Add(kadm.Offset{Topic: "subscribed", Partition: 1, At: 6, LeaderEpoch: -1})
		os.Add(kadm.Offset{Topic: "other", Partition: 0, At: 7, LeaderEpoch: -1})
		if err := adm.CommitAllOffsets(ctx, group, os); err != nil {
			t.Fatalf("committing for %s: %v", group, err)
		}
	}
	commit("idle")
	commit("live")
	// "live": a consumer of "subscribed".
	produceValues(t, b.addr, "subscribed", "v", 0, 10)
	startGroupMember(t, b.addr, "live", "subscribed", "member", newTally())
	waitGroupMembers(t, b.addr, "live", 1)

	// ListGroups filtered by state (v4+).
	for _, c := range []struct {
		states []string
		want   []string
	}{
		{[]string{"Stable"}, []string{"live"}},
		{[]string{"Empty"}, []string{"idle"}},
		{[]string{"empty", "STABLE"}, []string{"idle", "live"}},
		{[]string{"Dead"}, nil},
	} {
		lg, err := adm.ListGroups(ctx, c.states...)
		if err != nil {
			t.Fatal(err)
		}
		if got := lg.Groups(); !equalStrings(got, c.want) {
			t.Errorf("ListGroups(%v) = %v, want %v", c.states, got, c.want)
		}
	}

	// OffsetDelete: a live consumer group keeps the offsets of the topic
	// it subscribes to and loses the others.
	del, err := adm.DeleteOffsets(ctx, "live", kadm.TopicsSet{"subscribed": {0: {}}, "other": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := del.Lookup("subscribed", 0); !errors.Is(e, kerr.GroupSubscribedToTopic) {
		t.Errorf("deleting live's subscribed/0: %v, want GROUP_SUBSCRIBED_TO_TOPIC", e)
	}
	if e, ok := del.Lookup("other", 0); !ok || e != nil {
		t.Errorf("deleting live's other/0: %v %v", e, ok)
	}
	// An empty group loses whatever is asked.
	if del, err = adm.DeleteOffsets(ctx, "idle", kadm.TopicsSet{"subscribed": {1: {}}}); err != nil || del.Error() != nil {
		t.Fatalf("deleting idle's subscribed/1: %v %v", err, del.Error())
	}
	if _, err := adm.DeleteOffsets(ctx, "nobody", kadm.TopicsSet{"other": {0: {}}}); !errors.Is(err, kerr.GroupIDNotFound) {
		t.Errorf("deleting offsets of an unknown group: %v, want GROUP_ID_NOT_FOUND", err)
	}

	// DeleteGroups: the empty group goes with its offsets; the live one
	// is NON_EMPTY_GROUP; an unknown one GROUP_ID_NOT_FOUND.
	dg, err := adm.DeleteGroups(ctx, "idle", "live", "nobody")
	if err != nil {
		t.Fatal(err)
	}
	for group, want := range map[string]error{"idle": nil, "live": kerr.NonEmptyGroup, "nobody": kerr.GroupIDNotFound} {
		if got := dg[group].Err; !errors.Is(got, want) && !(got == nil && want == nil) {
			t.Errorf("DeleteGroups %s: %v, want %v", group, got, want)
		}
	}

	// After a restart: idle is gone with its offsets, live kept
	// subscribed/0 and lost other/0.
	b = b.restart(t)
	adm = newAdmin(t, b.addr)
	lg, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := lg.Groups(); !equalStrings(got, []string{"live"}) {
		t.Errorf("groups after restart %v, want [live]", got)
	}
	offs, err := adm.FetchOffsets(ctx, "live")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := offs.Lookup("other", 0); ok {
		t.Error("live's deleted offset of other/0 is back after restart")
	}
	if o, ok := offs.Lookup("subscribed", 0); !ok || o.At < 5 {
		t.Errorf("live's offset of subscribed/0 after restart: %+v %v", o, ok)
	}
	idle, err := adm.FetchOffsets(ctx, "idle")
	if err != nil {
		t.Fatal(err)
	}
	if len(idle) != 0 {
		t.Errorf("deleted group idle still has offsets %v", idle)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestOffsetsTopicInMetadata: after a group coordinator lookup, Metadata
// lists __consumer_offsets as Kafka does (internal, 50 partitions); a
// regex consumer (franz-go ConsumeRegex) skips it; Produce to it gets
// INVALID_TOPIC_EXCEPTION and CreateTopics TOPIC_ALREADY_EXISTS.
func TestOffsetsTopicInMetadata(t *testing.T) {
	b := newTestBroker(t, func(c *Config) { c.GroupInitialRebalanceDelay = 0 })
	ctx := testContext(t, 60*time.Second)
	adm := newAdmin(t, b.addr)
	createTopic(t, b.addr, "regex-user", 1, nil)
	produceValues(t, b.addr, "regex-user", "r", 0, 5)

	td, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if td.Has(offsetsTopicName) {
		t.Fatalf("%s listed before any group coordinator lookup", offsetsTopicName)
	}
	if _, err := adm.FetchOffsets(ctx, "any-group"); err != nil { // FindCoordinator first
		t.Fatal(err)
	}
	adm = newAdmin(t, b.addr) // kgo caches metadata
	td, err = adm.ListTopicsWithInternal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := td[offsetsTopicName]
	if !ok || !d.IsInternal || len(d.Partitions) != 50 || d.ID == (kadm.TopicID{}) {
		t.Fatalf("%s in Metadata: %+v (listed %v)", offsetsTopicName, d, ok)
	}
	if td, err = adm.ListTopics(ctx); err != nil || td.Has(offsetsTopicName) {
		t.Fatalf("ListTopics without internal topics: %v, has %s: %v", td.Names(), offsetsTopicName, td.Has(offsetsTopicName))
	}

	// A regex consumer matching everything consumes the user topic only.
	cl := newClient(t, b.addr, kgo.ConsumeRegex(), kgo.ConsumeTopics(".*"), kgo.ConsumerGroup("regex"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	consumeOnly(ctx, t, cl, "regex-user", 5)
	if topics := cl.GetConsumeTopics(); len(topics) != 1 || topics[0] != "regex-user" {
		t.Errorf("regex consumer consumes %v, want [regex-user]", topics)
	}

	rc := dialRaw(t, b.addr)
	if p := produceRaw(t, rc, offsetsTopicName, 0, makeBatch(-1, -1, -1, time.Now().UnixMilli(), []byte("forged"))); p.ErrorCode != kerr.InvalidTopicException.Code {
		t.Errorf("Produce to %s: %v, want INVALID_TOPIC_EXCEPTION", offsetsTopicName, kerr.ErrorForCode(p.ErrorCode))
	}
	cr, err := adm.CreateTopic(ctx, 1, 1, nil, offsetsTopicName)
	if !errors.Is(err, kerr.TopicAlreadyExists) && !errors.Is(cr.Err, kerr.TopicAlreadyExists) {
		t.Errorf("CreateTopics %s: %v %v, want TOPIC_ALREADY_EXISTS", offsetsTopicName, err, cr.Err)
	}
	// Still listed after a restart: the offsets log holds offsets now.
	b = b.restart(t)
	adm = newAdmin(t, b.addr)
	if td, err = adm.ListTopicsWithInternal(ctx); err != nil || !td.Has(offsetsTopicName) {
		t.Errorf("after restart: %v, listed %v", err, td.Names())
	}
}
