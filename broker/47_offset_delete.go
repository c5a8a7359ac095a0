package broker

// OffsetDelete: v0
//
// Behaviour: as Kafka's GroupCoordinator.handleDeleteOffsets (KIP-496): an
// Empty group's offsets are deleted (tombstones in the offsets log, fsync'd
// before the answer); in a consumer group with members, partitions of
// topics the members subscribe to get GROUP_SUBSCRIBED_TO_TOPIC and the
// others are deleted; a non-consumer group with members gets
// NON_EMPTY_GROUP, an unknown group GROUP_ID_NOT_FOUND. Partitions without a
// committed offset answer no error.
//
// Not implemented: ACLs (no GROUP/TOPIC_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(47, 0, 0, handleOffsetDelete) }

func handleOffsetDelete(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	return b.groups.OffsetDelete(kreq.(*kmsg.OffsetDeleteRequest)), nil
}
