package broker

// DeleteGroups: v0-2
//
// Behaviour: as Kafka's GroupCoordinator.handleDeleteGroups: each group that
// is Empty is removed with its committed offsets (tombstones in the offsets
// log, fsync'd before the answer); a group with members gets
// NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND, an empty or
// over-long (above 32767 bytes) id INVALID_GROUP_ID.
//
// Not implemented: ACLs (no GROUP_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(42, 0, 2, handleDeleteGroups) }

func handleDeleteGroups(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	return b.groups.DeleteGroups(kreq.(*kmsg.DeleteGroupsRequest)), nil
}
