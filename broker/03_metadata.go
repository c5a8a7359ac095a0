package broker

// Metadata: v0-12
//
// Behaviour:
//   - One broker (this node, at its advertised address), which is the
//     controller and the leader of every partition; replicas and ISR are
//     [this node], leader epoch 0.
//   - All topics for a null topic list (v1+) or an empty one (v0).
//   - A missing topic is created with num.partitions when
//     auto.create.topics.enable is on and the client allows it (v4+
//     AllowAutoTopicCreation); otherwise UNKNOWN_TOPIC_OR_PARTITION.
//   - Topic ids (v10+): answered, and a topic asked for by id is found by id.
//   - The internal __consumer_offsets topic, as Kafka reports it:
//     is_internal=true with offsets.topic.num.partitions (50) partitions,
//     listed once it exists (the first FindCoordinator for a group, or
//     committed offsets on disk; a request naming it with auto-creation
//     allowed creates it, as in Kafka). Regex consumers skip it by that
//     flag. It is not a log: Produce to it gets INVALID_TOPIC_EXCEPTION
//     (Kafka's "Cannot append to internal topic"), CreateTopics
//     TOPIC_ALREADY_EXISTS, and Fetch/ListOffsets answer it as an empty log
//     (the offsets live in the coordinator's own log, see package group and
//     offsets_topic.go).
//
// Not implemented: authorized operations (answered as not requested),
// offline replicas, racks.

import (
	"context"
	"crypto/sha256"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/broker/storage"
)

func init() { register(3, 0, 12, handleMetadata) }

func handleMetadata(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)

	host, port := b.advertised()
	br := kmsg.NewMetadataResponseBroker()
	br.NodeID, br.Host, br.Port = b.cfg.NodeID, host, port
	resp.Brokers = append(resp.Brokers, br)
	cid := b.store.ClusterID()
	resp.ClusterID = &cid
	resp.ControllerID = b.cfg.NodeID

	st := b.store
	// partition is partition p of a topic this node leads, its only
	// replica, at leaderEpoch (-1: unknown).
	partition := func(p, leaderEpoch int32) kmsg.MetadataResponseTopicPartition {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition, mp.LeaderEpoch = p, leaderEpoch
		mp.Leader = b.cfg.NodeID
		mp.Replicas = []int32{b.cfg.NodeID}
		mp.ISR = []int32{b.cfg.NodeID}
		return mp
	}
	addTopic := func(ti storage.TopicInfo) {
		t := kmsg.NewMetadataResponseTopic()
		name := ti.Name
		t.Topic = &name
		t.TopicID = ti.ID
		for p := int32(0); p < ti.Partitions; p++ {
			t.Partitions = append(t.Partitions, partition(p, 0))
		}
		resp.Topics = append(resp.Topics, t)
	}
	addErr := func(name *string, id [16]byte, code int16) {
		t := kmsg.NewMetadataResponseTopic()
		t.Topic, t.TopicID, t.ErrorCode = name, id, code
		resp.Topics = append(resp.Topics, t)
	}

	addInternal := func() {
		t := kmsg.NewMetadataResponseTopic()
		t.Topic = kmsg.StringPtr(offsetsTopicName)
		t.TopicID = offsetsTopicID(cid)
		t.IsInternal = true
		for p := int32(0); p < b.cfg.OffsetsTopicNumPartitions; p++ {
			t.Partitions = append(t.Partitions, partition(p, -1))
		}
		resp.Topics = append(resp.Topics, t)
	}

	if req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0) {
		for _, ti := range st.Topics() {
			addTopic(ti)
		}
		if b.groups.OffsetsTopicExists() {
			addInternal()
		}
		return resp, nil
	}
	allowCreate := b.cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		if rt.Topic == nil || *rt.Topic == "" {
			if rt.TopicID == ([16]byte{}) {
				addErr(rt.Topic, rt.TopicID, kerr.InvalidTopicException.Code)
				continue
			}
			if rt.TopicID == offsetsTopicID(cid) && b.groups.OffsetsTopicExists() {
				addInternal()
				continue
			}
			ti, ok := topicByID(st, rt.TopicID)
			if !ok {
				addErr(nil, rt.TopicID, kerr.UnknownTopicID.Code)
				continue
			}
			addTopic(ti)
			continue
		}
		name := *rt.Topic
		if name == offsetsTopicName {
			if allowCreate {
				b.groups.MarkOffsetsTopic()
			}
			if b.groups.OffsetsTopicExists() {
				addInternal()
			} else {
				addErr(rt.Topic, rt.TopicID, kerr.UnknownTopicOrPartition.Code)
			}
			continue
		}
		ti, ok := st.Topic(name)
		if !ok && allowCreate {
			err := st.CreateTopic(name, b.cfg.NumPartitions, nil)
			if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				addErr(rt.Topic, rt.TopicID, kafkaErrorCode(err))
				continue
			}
			if ti, ok = st.Topic(name); !ok {
				// Another request is still creating it: retriable, as
				// Kafka answers right after an auto-creation.
				addErr(rt.Topic, rt.TopicID, kerr.LeaderNotAvailable.Code)
				continue
			}
		}
		if !ok {
			addErr(rt.Topic, rt.TopicID, kerr.UnknownTopicOrPartition.Code)
			continue
		}
		addTopic(ti)
	}
	return resp, nil
}

// offsetsTopicID is the topic id Metadata gives __consumer_offsets: derived
// from the cluster id, so it is the same after every restart.
func offsetsTopicID(clusterID string) [16]byte {
	sum := sha256.Sum256([]byte(offsetsTopicName + "/" + clusterID))
	var id [16]byte
	copy(id[:], sum[:])
	return id
}

// topicByID finds a topic by its id.
func topicByID(st *storage.Store, id [16]byte) (storage.TopicInfo, bool) {
	for _, ti := range st.Topics() {
		if ti.ID == id {
			return ti, true
		}
	}
	return storage.TopicInfo{}, false
}
