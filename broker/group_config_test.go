package broker

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestGroupConfigKeys(t *testing.T) {
	c, warnings, err := ConfigFromProperties(props(t, `
log.dirs=/x
group.min.session.timeout.ms=1000
group.max.session.timeout.ms=60000
offsets.retention.minutes=60
offsets.retention.check.interval.ms=5000
offset.metadata.max.bytes=100
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings for the group keys: %q", warnings)
	}
	if c.GroupMinSessionTimeout != time.Second || c.GroupMaxSessionTimeout != time.Minute || c.OffsetsRetention != time.Hour ||
		c.OffsetsRetentionCheckInterval != 5*time.Second || c.OffsetMetadataMaxBytes != 100 {
		t.Errorf("group config: %+v", c)
	}
	c, _, err = ConfigFromProperties(props(t, "log.dirs=/x\noffsets.retention.minutes=-1\n"), nil)
	if err != nil || c.OffsetsRetention != -1 {
		t.Errorf("offsets.retention.minutes=-1: %v %v", c.OffsetsRetention, err)
	}
	_, _, err = ConfigFromProperties(props(t, `
log.dirs=/x
group.min.session.timeout.ms=10000
group.max.session.timeout.ms=5000
offsets.retention.minutes=0
offsets.retention.check.interval.ms=0
offset.metadata.max.bytes=0
`), nil)
	for _, key := range []string{"group.max.session.timeout.ms=5000", "offsets.retention.minutes=0", "offsets.retention.check.interval.ms=0", "offset.metadata.max.bytes=0"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
}

// The group keys reach the coordinator: a session timeout below
// group.min.session.timeout.ms and metadata above offset.metadata.max.bytes
// are refused.
func TestGroupConfigApplied(t *testing.T) {
	b := newTestBroker(t, func(c *Config) {
		c.GroupMinSessionTimeout = 20 * time.Second
		c.OffsetMetadataMaxBytes = 8
	})
	createTopic(t, b.addr, "gc", 1, nil)
	rc := dialRaw(t, b.addr)
	join := kmsg.NewPtrJoinGroupRequest()
	join.Version = 4
	join.Group, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis, join.ProtocolType = "gc-group", 10000, 10000, "consumer"
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name = "range"
	join.Protocols = append(join.Protocols, p)
	if resp := rc.roundTrip(join).(*kmsg.JoinGroupResponse); resp.ErrorCode != kerr.InvalidSessionTimeout.Code {
		t.Errorf("JoinGroup with a 10s session under a 20s minimum: %v", kerr.ErrorForCode(resp.ErrorCode))
	}

	ctx := testContext(t, 10*time.Second)
	adm := newAdmin(t, b.addr)
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "gc", Partition: 0, At: 1, LeaderEpoch: -1, Metadata: "longer than eight"})
	resp, err := adm.CommitOffsets(ctx, "gc-group", offs)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := resp.Lookup("gc", 0); !errors.Is(r.Err, kerr.OffsetMetadataTooLarge) {
		t.Errorf("commit with 17 bytes of metadata over a limit of 8: %v", r.Err)
	}
}

// Deleting a topic deletes every group's committed offsets of it, so a new
// topic of the same name does not inherit them.
func TestDeleteTopicDeletesCommittedOffsets(t *testing.T) {
	b := newTestBroker(t)
	ctx := testContext(t, 10*time.Second)
	adm := newAdmin(t, b.addr)
	createTopic(t, b.addr, "reborn", 2, nil)
	createTopic(t, b.addr, "kept", 1, nil)
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "reborn", Partition: 0, At: 5, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "reborn", Partition: 1, At: 6, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "kept", Partition: 0, At: 7, LeaderEpoch: -1})
	for _, g := range []string{"g1", "g2"} {
		if err := adm.CommitAllOffsets(ctx, g, offs); err != nil {
			t.Fatalf("committing for %s: %v", g, err)
		}
	}
	if _, err := adm.DeleteTopic(ctx, "reborn"); err != nil {
		t.Fatal(err)
	}
	createTopic(t, b.addr, "reborn", 2, nil)
	for _, g := range []string{"g1", "g2"} {
		got, err := adm.FetchOffsets(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		for p := range int32(2) {
			if o, ok := got.Lookup("reborn", p); ok && o.At >= 0 {
				t.Errorf("%s: reborn/%d has committed offset %d after the topic was deleted", g, p, o.At)
			}
		}
		if o, ok := got.Lookup("kept", 0); !ok || o.At != 7 {
			t.Errorf("%s: kept/0 = %+v, want 7", g, o)
		}
	}
}
