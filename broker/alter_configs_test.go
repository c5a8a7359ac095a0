package broker

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAlterTopicConfigs changes topic configs with kadm's incremental
// (IncrementalAlterConfigs) and state (AlterConfigs) calls, and checks
// DescribeConfigs, that the changes apply to the running log and survive a
// restart, and the refusals.
func TestAlterTopicConfigs(t *testing.T) {
	b := newTestBroker(t, func(c *Config) { c.RetentionCheckInterval = 20 * time.Millisecond })
	ctx := testContext(t, 30*time.Second)
	adm := newAdmin(t, b.addr)
	createTopic(t, b.addr, "cfg", 1, map[string]*string{"segment.bytes": new("1024")})
	describe := func(adm *kadm.Client) map[string]kadm.Config {
		t.Helper()
		rcs, err := adm.DescribeTopicConfigs(ctx, "cfg")
		if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
			t.Fatalf("DescribeTopicConfigs: %v %v", err, rcs)
		}
		out := map[string]kadm.Config{}
		for _, c := range rcs[0].Configs {
			out[c.Key] = c
		}
		return out
	}
	wantConfig := func(got map[string]kadm.Config, key, value string, source kmsg.ConfigSource) {
		t.Helper()
		c, ok := got[key]
		if !ok || c.Value == nil || *c.Value != value || c.Source != source {
			t.Errorf("%s: %+v, want %s from %v", key, c, value, source)
		}
	}
	oneResult := func(rs kadm.AlterConfigsResponses, err error) kadm.AlterConfigsResponse {
		t.Helper()
		if err != nil || len(rs) != 1 {
			t.Fatalf("alter: %v %v", err, rs)
		}
		return rs[0]
	}
	// alter applies ops to cfg incrementally and fails the test, naming
	// what it did, when they are refused.
	alter := func(what string, ops ...kadm.AlterConfig) {
		t.Helper()
		if r := oneResult(adm.AlterTopicConfigs(ctx, ops, "cfg")); r.Err != nil {
			t.Fatalf("%s: %v %s", what, r.Err, r.ErrMessage)
		}
	}

	t.Run("incremental set shows in DescribeConfigs and applies", func(t *testing.T) {
		alter("AlterTopicConfigs",
			kadm.AlterConfig{Op: kadm.SetConfig, Name: "message.timestamp.type", Value: new("LogAppendTime")},
			kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: new("86400000")})
		got := describe(adm)
		wantConfig(got, "message.timestamp.type", "LogAppendTime", kmsg.ConfigSourceDynamicTopicConfig)
		wantConfig(got, "retention.ms", "86400000", kmsg.ConfigSourceDynamicTopicConfig)
		wantConfig(got, "segment.bytes", "1024", kmsg.ConfigSourceDynamicTopicConfig)

		cl := newClient(t, b.addr, kgo.DefaultProduceTopic("cfg"), kgo.ConsumeTopics("cfg"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x"), Timestamp: time.Unix(1, 0)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		fs := cl.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		recs := fs.Records()
		if len(recs) != 1 || recs[0].Attrs.TimestampType() != 1 || recs[0].Timestamp.Unix() < 1e9 {
			t.Fatalf("record after message.timestamp.type=LogAppendTime: %+v", recs)
		}
	})

	t.Run("bad values name the key and change nothing", func(t *testing.T) {
		r := oneResult(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
			{Op: kadm.SetConfig, Name: "retention.ms", Value: new("soon")},
			{Op: kadm.SetConfig, Name: "flush.messages", Value: new("1")},
		}, "cfg"))
		if !errors.Is(r.Err, kerr.InvalidConfig) || !strings.Contains(r.ErrMessage, "retention.ms") {
			t.Fatalf("bad retention.ms: %v %q, want INVALID_CONFIG naming retention.ms", r.Err, r.ErrMessage)
		}
		r = oneResult(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "no.such.config", Value: new("1")}}, "cfg"))
		if !errors.Is(r.Err, kerr.InvalidConfig) || !strings.Contains(r.ErrMessage, "no.such.config") {
			t.Fatalf("unknown key: %v %q", r.Err, r.ErrMessage)
		}
		r = oneResult(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "retention.ms", Value: new("1")}}, "cfg"))
		if !errors.Is(r.Err, kerr.InvalidConfig) {
			t.Fatalf("APPEND to retention.ms: %v %q, want INVALID_CONFIG", r.Err, r.ErrMessage)
		}
		r = oneResult(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: new("compact")}}, "cfg"))
		if !errors.Is(r.Err, kerr.InvalidConfig) || !strings.Contains(r.ErrMessage, "cleanup.policy") {
			t.Fatalf("APPEND compact to cleanup.policy: %v %q, want INVALID_CONFIG", r.Err, r.ErrMessage)
		}
		r = oneResult(adm.ValidateAlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: new("1")}}, "cfg"))
		if r.Err != nil {
			t.Fatalf("validate only: %v %s", r.Err, r.ErrMessage)
		}
		got := describe(adm)
		wantConfig(got, "retention.ms", "86400000", kmsg.ConfigSourceDynamicTopicConfig)
		if c := got["flush.messages"]; c.Source != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("flush.messages after a refused alter: %+v", c)
		}
		r = oneResult(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: new("1")}}, "missing"))
		if !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
			t.Fatalf("missing topic: %v", r.Err)
		}
		r = oneResult(adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.retention.ms", Value: new("1")}}))
		if !errors.Is(r.Err, kerr.InvalidRequest) || !strings.Contains(r.ErrMessage, "server.properties") {
			t.Fatalf("broker config: %v %q, want INVALID_REQUEST pointing at server.properties", r.Err, r.ErrMessage)
		}
	})

	t.Run("incremental delete, append and subtract", func(t *testing.T) {
		alter("delete and append",
			kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "retention.ms"},
			kadm.AlterConfig{Op: kadm.AppendConfig, Name: "follower.replication.throttled.replicas", Value: new("0:1,1:1")})
		alter("subtract",
			kadm.AlterConfig{Op: kadm.SubtractConfig, Name: "follower.replication.throttled.replicas", Value: new("0:1")},
			kadm.AlterConfig{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: new("delete")})
		got := describe(adm)
		wantConfig(got, "retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
		wantConfig(got, "follower.replication.throttled.replicas", "1:1", kmsg.ConfigSourceDynamicTopicConfig)
		wantConfig(got, "cleanup.policy", "delete", kmsg.ConfigSourceDynamicTopicConfig)
		alter("set retention.ms back", kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: new("86400000")})
	})

	t.Run("state alter replaces the set and retention applies", func(t *testing.T) {
		cl := newClient(t, b.addr, kgo.DefaultProduceTopic("cfg"))
		for range 20 {
			v := make([]byte, 300) // random: kgo compresses, and 1 KiB segments must fill
			rand.Read(v)
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: v}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		start := func() int64 {
			so, err := adm.ListStartOffsets(ctx, "cfg")
			if err != nil {
				t.Fatal(err)
			}
			o, _ := so.Lookup("cfg", 0)
			return o.Offset
		}
		if s := start(); s != 0 {
			t.Fatalf("log start offset %d before retention.bytes", s)
		}
		r := oneResult(adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{
			{Name: "segment.bytes", Value: new("1024")},
			{Name: "retention.bytes", Value: new("0")},
		}, "cfg"))
		if r.Err != nil {
			t.Fatalf("AlterTopicConfigsState: %v %s", r.Err, r.ErrMessage)
		}
		got := describe(adm)
		wantConfig(got, "retention.bytes", "0", kmsg.ConfigSourceDynamicTopicConfig)
		wantConfig(got, "retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
		wantConfig(got, "message.timestamp.type", "CreateTime", kmsg.ConfigSourceDefaultConfig)
		deadline := time.Now().Add(10 * time.Second)
		for start() < 18 {
			if time.Now().After(deadline) {
				t.Fatalf("log start offset %d 10s after retention.bytes=0, want every closed segment gone; segments %v", start(), b.Store().Partition("cfg", 0).Segments())
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("configs survive a restart", func(t *testing.T) {
		b2 := b.restart(t)
		got := describe(newAdmin(t, b2.addr))
		wantConfig(got, "retention.bytes", "0", kmsg.ConfigSourceDynamicTopicConfig)
		wantConfig(got, "segment.bytes", "1024", kmsg.ConfigSourceDynamicTopicConfig)
	})
}

// CreateTopics with validate_only checks config values, not only names.
func TestValidateCreateTopicsChecksValues(t *testing.T) {
	b := newTestBroker(t)
	ctx := testContext(t, 10*time.Second)
	adm := newAdmin(t, b.addr)
	resp, err := adm.ValidateCreateTopics(ctx, 1, 1, map[string]*string{"retention.ms": new("soon")}, "v")
	if err != nil {
		t.Fatal(err)
	}
	r, _ := resp.On("v", nil)
	if !errors.Is(r.Err, kerr.InvalidConfig) || !strings.Contains(r.ErrMessage, "retention.ms") {
		t.Fatalf("validate-only create with retention.ms=soon: %v %q, want INVALID_CONFIG naming retention.ms", r.Err, r.ErrMessage)
	}
	if _, ok := b.Store().Topic("v"); ok {
		t.Fatal("validate-only created the topic")
	}
}
