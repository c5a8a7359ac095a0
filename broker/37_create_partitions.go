package broker

// CreatePartitions: v0-3
//
// Behaviour:
//   - Grows each topic to its requested count (storage.Store.AddPartitions:
//     new partitions placed in the log dir with the fewest partitions, the
//     growth whole or not at all, durable before the answer). The new
//     partitions take the topic's configs.
//   - Errors per topic, as Kafka's ReplicationControlManager answers them:
//     INVALID_REQUEST for a topic named twice; UNKNOWN_TOPIC_OR_PARTITION;
//     INVALID_PARTITIONS for a count not above the current one ("Topic
//     already has N partition(s)." / "... would not be an increase."), for
//     __consumer_offsets (its count is offsets.topic.num.partitions), and
//     beyond the bounds; INVALID_REPLICA_ASSIGNMENT when an assignment's
//     length is not the number of new partitions or a replica list is not
//     [this node]; INVALID_TOPIC_EXCEPTION for a topic being deleted.
//   - Bounds: the partitions all topics of one request add together may be
//     at most brokerlab.create.topics.partitions.max (else every topic fails
//     with INVALID_PARTITIONS before anything is made, as CreateTopics);
//     the log refuses to hold more than max.broker.partitions.
//   - validate_only checks everything and changes nothing.
//
// Not implemented: nothing notable (the timeout does not apply: the growth
// is local and done before the answer).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(37, 0, 3, handleCreatePartitions) }

func handleCreatePartitions(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	twice := namedTwice(req.Topics, func(rt kmsg.CreatePartitionsRequestTopic) string { return rt.Topic })
	var total int64
	for _, rt := range req.Topics {
		if ti, ok := b.store.Topic(rt.Topic); ok && rt.Count > ti.Partitions {
			total += int64(rt.Count - ti.Partitions)
		}
	}
	tooMany := total > int64(b.cfg.CreateTopicsMaxPartitions)
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		fail := func(e *kerr.Error, format string, args ...any) {
			st.ErrorCode, st.ErrorMessage = failure(e, format, args...)
		}
		ti, exists := b.store.Topic(rt.Topic)
		switch {
		case twice(rt):
			fail(kerr.InvalidRequest, "Duplicate topic name.")
		case rt.Topic == offsetsTopicName:
			fail(kerr.InvalidPartitions, "the partition count of the internal topic %s is offsets.topic.num.partitions=%d and cannot change", offsetsTopicName, b.cfg.OffsetsTopicNumPartitions)
		case !exists:
			fail(kerr.UnknownTopicOrPartition, "topic %q does not exist", rt.Topic)
		case rt.Count == ti.Partitions:
			fail(kerr.InvalidPartitions, "Topic already has %d partition(s).", ti.Partitions)
		case rt.Count < ti.Partitions:
			fail(kerr.InvalidPartitions, "The topic %s currently has %d partition(s); %d would not be an increase.", rt.Topic, ti.Partitions, rt.Count)
		case tooMany:
			fail(kerr.InvalidPartitions, "this request adds %d partitions in all, more than brokerlab.create.topics.partitions.max=%d: add fewer partitions per request", total, b.cfg.CreateTopicsMaxPartitions)
		case rt.Assignment != nil && len(rt.Assignment) != int(rt.Count-ti.Partitions):
			fail(kerr.InvalidReplicaAssignment, "Attempted to add %d additional partition(s), but only %d assignment(s) were specified.", rt.Count-ti.Partitions, len(rt.Assignment))
		case !growAssignmentIsUs(rt.Assignment, b.cfg.NodeID):
			fail(kerr.InvalidReplicaAssignment, "replica assignment may only name broker %d, once per partition (replication factor 1)", b.cfg.NodeID)
		default:
			if err := b.store.AddPartitions(rt.Topic, rt.Count, req.ValidateOnly); err != nil {
				st.ErrorCode, st.ErrorMessage = errorAnswer(err)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func growAssignmentIsUs(as []kmsg.CreatePartitionsRequestTopicAssignment, node int32) bool {
	for _, a := range as {
		if len(a.Replicas) != 1 || a.Replicas[0] != node {
			return false
		}
	}
	return true
}
