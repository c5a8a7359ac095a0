package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteGroups answers DeleteGroups v0–v2 as Kafka's
// GroupCoordinator.handleDeleteGroups: a group that is Empty is removed with
// its committed offsets (a tombstone per offset, one fsync per group);
// a group with members gets NON_EMPTY_GROUP, an unknown one
// GROUP_ID_NOT_FOUND.
func (c *Coordinator) DeleteGroups(req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, name := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = name
		rg.ErrorCode = c.deleteGroup(name)
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

func (c *Coordinator) deleteGroup(name string) int16 {
	if e := checkGroupID(name); e != nil {
		return e.Code
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[name]
	if g == nil {
		return kerr.GroupIDNotFound.Code
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch g.state {
	case stateDead:
		return kerr.GroupIDNotFound.Code
	case stateEmpty:
	default:
		return kerr.NonEmptyGroup.Code
	}
	now := c.cfg.Clock.Now().UnixMilli()
	var tombs []offsetRecord
	for k := range c.log.all(name) {
		tombs = append(tombs, offsetRecord{group: name, tp: k, tombstone: true, value: offsetValue{commitMs: now}})
	}
	if err := c.log.append(tombs); err != nil {
		c.logger.Error("deleting group offsets", "group", name, "err", err)
		return kerr.KafkaStorageError.Code
	}
	for _, p := range g.pending {
		stop(p.timer)
	}
	g.state = stateDead
	g.stopTimers()
	delete(c.groups, name)
	c.logger.Info("deleted group", "group", name, "offsets", len(tombs))
	return 0
}

// OffsetDelete answers OffsetDelete v0 as Kafka's
// GroupCoordinator.handleDeleteOffsets: an Empty group's offsets are
// deleted; a consumer group with members keeps the offsets of topics its
// members subscribe to (GROUP_SUBSCRIBED_TO_TOPIC per partition) and loses
// the others; a non-consumer group with members gets NON_EMPTY_GROUP, an
// unknown group GROUP_ID_NOT_FOUND. Partitions without a committed offset
// answer no error.
func (c *Coordinator) OffsetDelete(req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	g, e := c.lockKnownGroup(req.Group, kerr.GroupIDNotFound)
	if e != nil {
		resp.ErrorCode = e.Code
		return resp
	}
	defer g.mu.Unlock()
	var subscribed func(string) bool
	switch {
	case g.state == stateEmpty:
		subscribed = func(string) bool { return false }
	case g.protocolType == "consumer":
		subscribed = g.subscribedTopics()
	default:
		resp.ErrorCode = kerr.NonEmptyGroup.Code
		return resp
	}
	now := c.cfg.Clock.Now().UnixMilli()
	var tombs []offsetRecord
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		sub := subscribed(t.Topic)
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			if sub {
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			} else if _, ok := c.log.get(g.name, tp{t.Topic, p.Partition}); ok {
				tombs = append(tombs, offsetRecord{group: g.name, tp: tp{t.Topic, p.Partition}, tombstone: true, value: offsetValue{commitMs: now}})
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if err := c.log.append(tombs); err != nil {
		c.logger.Error("deleting committed offsets", "group", g.name, "err", err)
		// The partitions answered without an error were to be deleted.
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if p := &resp.Topics[i].Partitions[j]; p.ErrorCode == 0 {
					p.ErrorCode = kerr.KafkaStorageError.Code
				}
			}
		}
	}
	return resp
}

// subscribedTopics is Kafka's GroupMetadata.isSubscribedToTopic for a
// consumer group with members: the topics in the members' subscriptions of
// the chosen protocol. Before a protocol is chosen, or if a member's
// metadata does not decode, every topic counts as subscribed (Kafka: the
// subscription is unknown).
func (g *group) subscribedTopics() func(string) bool {
	all := func(string) bool { return true }
	if g.protocol == "" {
		return all
	}
	topics := make(map[string]struct{})
	for _, m := range g.members {
		for _, p := range m.protocols {
			if p.name != g.protocol {
				continue
			}
			var meta kmsg.ConsumerMemberMetadata
			if err := meta.ReadFrom(p.metadata); err != nil {
				return all
			}
			for _, t := range meta.Topics {
				topics[t] = struct{}{}
			}
		}
	}
	return func(t string) bool { _, ok := topics[t]; return ok }
}
