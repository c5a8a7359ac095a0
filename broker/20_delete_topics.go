package broker

// DeleteTopics: v0-6
//
// Behaviour: deletes each topic and its partitions' files (the log keeps a
// segment file open until the last fetch reading it is done). v0-5 name
// topics; v6 names them or gives topic ids. UNKNOWN_TOPIC_OR_PARTITION
// for a missing name, UNKNOWN_TOPIC_ID for a missing id, with an error
// message (v5+). Every group's committed offsets of a deleted topic are
// deleted too (group.Coordinator.DeleteTopicOffsets), so a new topic of
// the same name starts without them, as in Kafka.
//
// Not implemented: nothing notable (no timeouts apply: deletion is local).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(20, 0, 6, handleDeleteTopics) }

func handleDeleteTopics(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if req.Version >= 6 {
		for _, t := range req.Topics {
			targets = append(targets, target{name: t.Topic, id: t.TopicID})
		}
	} else {
		for _, n := range req.TopicNames {
			targets = append(targets, target{name: &n})
		}
	}
	for _, t := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = t.name, t.id
		fail := func(code int16, msg string) {
			st.ErrorCode = code
			if req.Version >= 5 {
				st.ErrorMessage = &msg
			}
		}
		var name string
		switch {
		case t.name != nil && *t.name != "":
			name = *t.name
			ti, ok := b.store.Topic(name)
			if !ok {
				fail(kerr.UnknownTopicOrPartition.Code, "topic "+name+" does not exist")
				break
			}
			st.TopicID = ti.ID
		case t.id != [16]byte{}:
			ti, ok := topicByID(b.store, t.id)
			if !ok {
				fail(kerr.UnknownTopicID.Code, "no topic has this id")
				break
			}
			name = ti.Name
			st.Topic = &name
		default:
			fail(kerr.InvalidRequest.Code, "neither a topic name nor a topic id given")
		}
		if st.ErrorCode == 0 {
			if err := b.store.DeleteTopic(name); err != nil {
				fail(kafkaErrorCode(err), err.Error())
			} else if err := b.groups.DeleteTopicOffsets(name); err != nil {
				// The topic is gone; its stale offsets only matter to a
				// new topic of the same name.
				b.logger.Error("deleting committed offsets of deleted topic", "topic", name, "err", err)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
