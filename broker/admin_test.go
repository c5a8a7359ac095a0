package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAdminRaw covers what kadm does not reach: CreateTopics errors,
// DeleteTopics v6 by topic id, DescribeConfigs sources and synonyms, and
// InitProducerId.
func TestAdminRaw(t *testing.T) {
	b := newTestBroker(t, func(c *Config) { c.NumPartitions = 3; c.explicit = map[string]bool{"num.partitions": true} })
	rc := dialRaw(t, b.addr)

	t.Run("CreateTopics refuses what a single node cannot do", func(t *testing.T) {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version = 5
		add := func(name string, parts int32, rf int16, cfg ...string) {
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, parts, rf
			for i := 0; i+1 < len(cfg); i += 2 {
				c := kmsg.NewCreateTopicsRequestTopicConfig()
				c.Name, c.Value = cfg[i], &cfg[i+1]
				rt.Configs = append(rt.Configs, c)
			}
			req.Topics = append(req.Topics, rt)
		}
		add("ok-default-partitions", -1, -1)
		add("bad name!", 1, 1)
		add("rf3", 1, 3)
		add("zero", 0, 1)
		add("badcfg", 1, 1, "no.such.config", "1")
		add("dup", 1, 1)
		add("dup", 1, 1)
		resp := rc.roundTrip(req).(*kmsg.CreateTopicsResponse)
		want := map[string]int16{
			"ok-default-partitions": 0,
			"bad name!":             kerr.InvalidTopicException.Code,
			"rf3":                   kerr.InvalidReplicationFactor.Code,
			"zero":                  kerr.InvalidPartitions.Code,
			"badcfg":                kerr.InvalidConfig.Code,
			"dup":                   kerr.InvalidRequest.Code,
		}
		for _, rt := range resp.Topics {
			if rt.ErrorCode != want[rt.Topic] {
				t.Errorf("%s: %v, want %v", rt.Topic, kerr.ErrorForCode(rt.ErrorCode), kerr.ErrorForCode(want[rt.Topic]))
			}
			if rt.ErrorCode != 0 && rt.ErrorMessage == nil {
				t.Errorf("%s: no error message", rt.Topic)
			}
			if rt.Topic == "ok-default-partitions" && rt.NumPartitions != 3 {
				t.Errorf("partitions %d, want num.partitions 3", rt.NumPartitions)
			}
		}
	})

	t.Run("DescribeConfigs tells sources and synonyms", func(t *testing.T) {
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.Version = 4
		req.IncludeSynonyms = true
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, "0"
		rr.ConfigNames = []string{"num.partitions", "log.segment.bytes"}
		req.Resources = append(req.Resources, rr)
		resp := rc.roundTrip(req).(*kmsg.DescribeConfigsResponse)
		got := map[string]kmsg.ConfigSource{}
		for _, c := range resp.Resources[0].Configs {
			got[c.Name] = c.Source
		}
		if got["num.partitions"] != kmsg.ConfigSourceStaticBrokerConfig || got["log.segment.bytes"] != kmsg.ConfigSourceDefaultConfig || len(got) != 2 {
			t.Errorf("broker config sources: %v", got)
		}
	})

	t.Run("DeleteTopics v6 deletes by topic id", func(t *testing.T) {
		ti, ok := b.Store().Topic("ok-default-partitions")
		if !ok {
			t.Fatal("topic missing")
		}
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.Version = 6
		dt := kmsg.NewDeleteTopicsRequestTopic()
		dt.TopicID = ti.ID
		req.Topics = append(req.Topics, dt)
		resp := rc.roundTrip(req).(*kmsg.DeleteTopicsResponse)
		if r := resp.Topics[0]; r.ErrorCode != 0 || r.Topic == nil || *r.Topic != "ok-default-partitions" {
			t.Errorf("delete by id: %v %v", kerr.ErrorForCode(r.ErrorCode), r.Topic)
		}
		if _, ok := b.Store().Topic("ok-default-partitions"); ok {
			t.Error("topic still there")
		}
		resp = rc.roundTrip(req).(*kmsg.DeleteTopicsResponse)
		if r := resp.Topics[0]; r.ErrorCode != kerr.UnknownTopicID.Code {
			t.Errorf("delete by a gone id: %v", kerr.ErrorForCode(r.ErrorCode))
		}
	})

	t.Run("InitProducerId gives distinct ids and bumps a transactional id's epoch", func(t *testing.T) {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version = 4
		a := rc.roundTrip(req).(*kmsg.InitProducerIDResponse)
		c := rc.roundTrip(req).(*kmsg.InitProducerIDResponse)
		if a.ErrorCode != 0 || c.ErrorCode != 0 || a.ProducerID == c.ProducerID || a.ProducerID < 0 {
			t.Errorf("ids %d %d, errors %d %d", a.ProducerID, c.ProducerID, a.ErrorCode, c.ErrorCode)
		}
		txn := "txn"
		req.TransactionalID = &txn
		req.TransactionTimeoutMillis = 0
		if r := rc.roundTrip(req).(*kmsg.InitProducerIDResponse); r.ErrorCode != kerr.InvalidTransactionTimeout.Code {
			t.Errorf("transaction timeout 0: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		req.TransactionTimeoutMillis = 60000
		first := rc.roundTrip(req).(*kmsg.InitProducerIDResponse)
		again := rc.roundTrip(req).(*kmsg.InitProducerIDResponse)
		if first.ErrorCode != 0 || again.ErrorCode != 0 || first.ProducerID != again.ProducerID || first.ProducerEpoch != 0 || again.ProducerEpoch != 1 {
			t.Errorf("transactional id: first %d/%d (%v), again %d/%d (%v); want one producer id, epochs 0 then 1",
				first.ProducerID, first.ProducerEpoch, kerr.ErrorForCode(first.ErrorCode), again.ProducerID, again.ProducerEpoch, kerr.ErrorForCode(again.ErrorCode))
		}
	})
}
