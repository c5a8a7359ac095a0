package broker

// CreateTopics: v0-5
//
// Behaviour:
//   - Creates each topic with its partition count (-1: num.partitions) and
//     configs (storage.TopicConfigSpecs lists the accepted names; the log
//     validates their values); the log places
//     each partition in the log dir with the fewest partitions.
//   - Replication factor -1 or 1; anything above 1 gets
//     INVALID_REPLICATION_FACTOR (one node). A replica assignment must name
//     only this node; its length is the partition count.
//   - Bounds: all topics of one request together may ask for at most
//     brokerlab.create.topics.partitions.max partitions, else every topic
//     of the request fails with INVALID_PARTITIONS before anything is
//     made (Kafka's KRaft controller fails such a request whole); the log
//     refuses to hold more than max.broker.partitions (INVALID_PARTITIONS).
//     A topic is created whole or not at all.
//   - validate_only (v1+) checks everything, config values included, and
//     creates nothing.
//   - Errors per topic: TOPIC_ALREADY_EXISTS, INVALID_TOPIC_EXCEPTION,
//     INVALID_PARTITIONS, INVALID_CONFIG, INVALID_REQUEST (a topic named
//     twice), with an error message (v1+).
//   - v5: the created topic's partitions, replication factor and configs.
//   - v6 is v5 that may answer THROTTLING_QUOTA_EXCEEDED (KIP-599; there
//     are no quotas here, so it never does); v7 adds the created topic's id
//     (KIP-516).
//
// Not implemented: controller mutation quotas (KIP-599).

import (
	"context"
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/broker/storage"
)

func init() { register(19, 0, 7, handleCreateTopics) }

func handleCreateTopics(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	twice := namedTwice(req.Topics, func(rt kmsg.CreateTopicsRequestTopic) string { return rt.Topic })
	var total int64
	for _, rt := range req.Topics {
		total += int64(max(requestedPartitions(rt, b.cfg.NumPartitions), 0))
	}
	tooMany := total > int64(b.cfg.CreateTopicsMaxPartitions)
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		fail := func(e *kerr.Error, format string, args ...any) {
			st.ErrorCode, st.ErrorMessage = failure(e, format, args...)
		}
		parts := requestedPartitions(rt, b.cfg.NumPartitions)
		configs := map[string]*string{}
		var badConfig string
		for _, c := range rt.Configs {
			if _, known := storage.LookupTopicConfig(c.Name); !known && badConfig == "" {
				badConfig = c.Name
			}
			configs[c.Name] = c.Value
		}
		switch {
		case twice(rt):
			fail(kerr.InvalidRequest, "topic %q is named more than once in the request", rt.Topic)
		case storage.ValidateTopicName(rt.Topic) != nil:
			fail(kerr.InvalidTopicException, "%v", storage.ValidateTopicName(rt.Topic))
		case rt.Topic == offsetsTopicName:
			fail(kerr.TopicAlreadyExists, "topic %q is the internal offsets topic of the group coordinator", rt.Topic)
		case parts < 1:
			fail(kerr.InvalidPartitions, "number of partitions must be at least 1, got %d", parts)
		case tooMany:
			fail(kerr.InvalidPartitions, "this request asks for %d partitions in all, more than brokerlab.create.topics.partitions.max=%d: create fewer partitions per request", total, b.cfg.CreateTopicsMaxPartitions)
		case rt.ReplicationFactor > 1 || rt.ReplicationFactor == 0 || rt.ReplicationFactor < -1:
			fail(kerr.InvalidReplicationFactor, "replication factor %d is not possible on a single broker: use 1 or -1", rt.ReplicationFactor)
		case !assignmentIsUs(rt.ReplicaAssignment, b.cfg.NodeID):
			fail(kerr.InvalidReplicaAssignment, "replica assignment may only name broker %d", b.cfg.NodeID)
		case badConfig != "":
			fail(kerr.InvalidConfig, "unknown topic config %q", badConfig)
		default:
			if _, exists := b.store.Topic(rt.Topic); exists {
				fail(kerr.TopicAlreadyExists, "topic %q already exists", rt.Topic)
				break
			}
			if req.ValidateOnly {
				// The values too, as CreateTopic would.
				if err := b.store.ValidateTopicConfigs(configs); err != nil {
					st.ErrorCode, st.ErrorMessage = errorAnswer(err)
				}
				break
			}
			if err := b.store.CreateTopic(rt.Topic, parts, configs); err != nil {
				st.ErrorCode, st.ErrorMessage = errorAnswer(err)
			}
		}
		if st.ErrorCode == 0 {
			st.NumPartitions, st.ReplicationFactor = parts, 1
			if ti, ok := b.store.Topic(rt.Topic); ok {
				st.TopicID = ti.ID
			}
			for _, spec := range storage.TopicConfigSpecs() {
				def, hasDefault := b.store.TopicConfigDefault(spec.Name)
				if !hasDefault {
					continue
				}
				c := kmsg.NewCreateTopicsResponseTopicConfig()
				c.Name = spec.Name
				if v, ok := configs[spec.Name]; ok {
					c.Value, c.Source = v, sourceTopic
				} else {
					c.Value, c.Source = &def, sourceDefault
				}
				st.Configs = append(st.Configs, c)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// failure is a topic's error code and message in a CreateTopics or
// CreatePartitions response: e, with the message format makes of args.
func failure(e *kerr.Error, format string, args ...any) (int16, *string) {
	msg := fmt.Sprintf(format, args...)
	return e.Code, &msg
}

// errorAnswer is a topic's error code and message in a CreateTopics or
// CreatePartitions response for err from the store: its Kafka code
// (kafkaErrorCode) and its text.
func errorAnswer(err error) (int16, *string) {
	msg := err.Error()
	return kafkaErrorCode(err), &msg
}

// requestedPartitions is the partition count a CreateTopics topic asks
// for: the replica assignment's length, else NumPartitions (-1: the
// broker's num.partitions).
func requestedPartitions(rt kmsg.CreateTopicsRequestTopic, numPartitions int32) int32 {
	if len(rt.ReplicaAssignment) > 0 {
		return int32(min(len(rt.ReplicaAssignment), math.MaxInt32))
	}
	if rt.NumPartitions == -1 {
		return numPartitions
	}
	return rt.NumPartitions
}

func assignmentIsUs(as []kmsg.CreateTopicsRequestTopicReplicaAssignment, node int32) bool {
	for _, a := range as {
		if len(a.Replicas) != 1 || a.Replicas[0] != node {
			return false
		}
	}
	return true
}
