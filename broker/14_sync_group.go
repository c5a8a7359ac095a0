package broker

// SyncGroup: v0-5
//
// Behaviour: the leader's sync hands out its assignment and makes the group
// Stable; a follower's sync waits for it (the wait ends with
// REBALANCE_IN_PROGRESS if the group rebalances meanwhile). Members that
// do not sync within the rebalance timeout are removed. In a "consumer"
// group a member the leader left out gets an empty ConsumerMemberAssignment
// rather than zero bytes, which some clients cannot decode.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(14, 0, 5, handleSyncGroup) }

func handleSyncGroup(ctx context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	resp := b.groups.SyncGroup(ctx, kreq.(*kmsg.SyncGroupRequest))
	if resp == nil {
		return nil, nil // the connection or the broker is closing
	}
	return resp, nil
}
