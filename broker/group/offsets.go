package group

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit answers OffsetCommit v0–v8. Commits are validated as
// Kafka's GroupCoordinator.handleCommitOffsets does: a generation below 0
// is a "simple" commit, accepted while the group has no members (and it
// creates the group); otherwise the member must belong to the group's
// current generation, and the group must not be waiting for SyncGroup
// (REBALANCE_IN_PROGRESS). The accepted offsets are written to the offsets
// log with one fsync before the response.
func (c *Coordinator) OffsetCommit(req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	fillAll := func(code int16) *kmsg.OffsetCommitResponse {
		resp.Topics = resp.Topics[:0]
		for _, t := range req.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	if e := checkGroupID(req.Group); e != nil {
		return fillAll(e.Code)
	}
	generation, memberID := req.Generation, req.MemberID
	if req.Version == 0 {
		// v0 has neither: it was the ZooKeeper-era simple commit.
		generation, memberID = -1, ""
	}
	g := c.lockGroup(req.Group, generation < 0)
	if g == nil {
		// An unknown group with a generation: a member of a group this
		// coordinator no longer knows (Kafka answers the same).
		return fillAll(kerr.IllegalGeneration.Code)
	}
	defer g.mu.Unlock()

	var m *member
	switch {
	case generation < 0 && g.state == stateEmpty:
	case g.state == stateCompletingRebalance:
		return fillAll(kerr.RebalanceInProgress.Code)
	default:
		if req.InstanceID != nil {
			if e := g.checkInstance(req.InstanceID, memberID); e != nil {
				return fillAll(e.Code)
			}
		}
		var ok bool
		if m, ok = g.members[memberID]; !ok {
			return fillAll(kerr.UnknownMemberID.Code)
		}
		if generation != g.generation {
			return fillAll(kerr.IllegalGeneration.Code)
		}
	}

	now := c.cfg.Clock.Now().UnixMilli()
	var records []offsetRecord
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		nparts, known := int32(-1), true
		if c.cfg.Partitions != nil {
			nparts, known = c.cfg.Partitions(t.Topic)
		}
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			switch {
			case !known || len(t.Topic) > maxTopicLen || p.Partition < 0 || (nparts >= 0 && p.Partition >= nparts):
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case p.Metadata != nil && len(*p.Metadata) > c.cfg.MaxMetadataBytes:
				rp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			default:
				commitMs := now
				if req.Version == 1 && p.Timestamp >= 0 {
					commitMs = p.Timestamp
				}
				leaderEpoch := p.LeaderEpoch
				if req.Version < 6 {
					leaderEpoch = -1
				}
				records = append(records, offsetRecord{
					group: g.name,
					tp:    tp{topic: t.Topic, partition: p.Partition},
					value: offsetValue{offset: p.Offset, leaderEpoch: leaderEpoch, metadata: p.Metadata, commitMs: commitMs},
				})
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if err := c.log.append(records); err != nil {
		c.logger.Error("storing committed offsets", "group", g.name, "err", err)
		// The partitions answered without an error were to be stored.
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if p := &resp.Topics[i].Partitions[j]; p.ErrorCode == 0 {
					p.ErrorCode = kerr.KafkaStorageError.Code
				}
			}
		}
		return resp
	}
	if m != nil {
		g.scheduleSession(m)
	}
	return resp
}

// OffsetFetch answers OffsetFetch v0–v9: the committed offset of each
// requested partition, -1 where there is none; with no topics (v2+), every
// committed partition of the group. v8+ fetches several groups at once,
// each with its own error (INVALID_GROUP_ID for an empty or too long id).
func (c *Coordinator) OffsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			sg := kmsg.NewOffsetFetchResponseGroup()
			sg.Group = rg.Group
			if e := checkGroupID(rg.Group); e != nil {
				sg.ErrorCode = e.Code
				resp.Groups = append(resp.Groups, sg)
				continue
			}
			// v9's member id and epoch (KIP-848) are checked only for
			// consumer-protocol groups; a classic group accepts any,
			// as Kafka's ClassicGroup.validateOffsetFetch does.
			topics := requestedTopics(rg.Topics, func(t kmsg.OffsetFetchRequestGroupTopic) fetchTopic { return fetchTopic{t.Topic, t.Partitions} })
			for _, ft := range c.fetchOffsets(rg.Group, topics, rg.Topics == nil) {
				st := kmsg.NewOffsetFetchResponseGroupTopic()
				st.Topic = ft.topic
				for _, fp := range ft.parts {
					sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata = fp.partition, fp.value.offset, fp.value.leaderEpoch, fp.value.metadata
					st.Partitions = append(st.Partitions, sp)
				}
				sg.Topics = append(sg.Topics, st)
			}
			resp.Groups = append(resp.Groups, sg)
		}
		return resp
	}
	topics := requestedTopics(req.Topics, func(t kmsg.OffsetFetchRequestTopic) fetchTopic { return fetchTopic{t.Topic, t.Partitions} })
	all := req.Topics == nil && req.Version >= 2
	for _, ft := range c.fetchOffsets(req.Group, topics, all) {
		st := kmsg.NewOffsetFetchResponseTopic()
		st.Topic = ft.topic
		for _, fp := range ft.parts {
			sp := kmsg.NewOffsetFetchResponseTopicPartition()
			sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata = fp.partition, fp.value.offset, fp.value.leaderEpoch, fp.value.metadata
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

type fetchTopic struct {
	topic string
	parts []int32
}

// requestedTopics is the topics an OffsetFetch request, or one of its
// v8+ groups, names, as fetchOffsets takes them: nil where it names none.
func requestedTopics[T any](ts []T, of func(T) fetchTopic) []fetchTopic {
	if ts == nil {
		return nil
	}
	topics := make([]fetchTopic, 0, len(ts))
	for _, t := range ts {
		topics = append(topics, of(t))
	}
	return topics
}

type fetchedTopic struct {
	topic string
	parts []fetchedPartition
}

type fetchedPartition struct {
	partition int32
	value     offsetValue
}

// fetchOffsets looks up the requested partitions (or all of the group's),
// with offset -1 and empty metadata where nothing is committed, as Kafka.
func (c *Coordinator) fetchOffsets(group string, topics []fetchTopic, all bool) []fetchedTopic {
	var out []fetchedTopic
	if all {
		byTopic := make(map[string][]fetchedPartition)
		var names []string
		for k, v := range c.log.all(group) {
			if _, ok := byTopic[k.topic]; !ok {
				names = append(names, k.topic)
			}
			byTopic[k.topic] = append(byTopic[k.topic], fetchedPartition{k.partition, v})
		}
		slices.Sort(names)
		for _, n := range names {
			ps := byTopic[n]
			slices.SortFunc(ps, func(a, b fetchedPartition) int { return cmp.Compare(a.partition, b.partition) })
			out = append(out, fetchedTopic{n, ps})
		}
		return out
	}
	empty := ""
	for _, t := range topics {
		ft := fetchedTopic{topic: t.topic}
		for _, p := range t.parts {
			v, ok := c.log.get(group, tp{t.topic, p})
			if !ok {
				v = offsetValue{offset: -1, leaderEpoch: -1, metadata: &empty}
			}
			ft.parts = append(ft.parts, fetchedPartition{p, v})
		}
		out = append(out, ft)
	}
	return out
}

// DeleteTopicOffsets deletes every group's committed offsets of topic, as
// Kafka does when a topic is deleted, so that a new topic of the same name
// does not inherit them. Safe for concurrent use.
func (c *Coordinator) DeleteTopicOffsets(topic string) error {
	n, err := c.log.deleteTopic(topic, c.cfg.Clock.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("deleting committed offsets of topic %s: %w", topic, err)
	}
	if n > 0 {
		c.logger.Info("deleted committed offsets of deleted topic", "topic", topic, "offsets", n)
	}
	return nil
}
