package broker

// JoinGroup: v0-9
//
// Behaviour: Kafka's classic join: member ids are client.id + "-" + UUID;
// v4+ dynamic members first get MEMBER_ID_REQUIRED with their id (KIP-394);
// the join waits (the connection's next request waits with it, as in
// Kafka) until every member has rejoined or the rebalance timeout (v0: the
// session timeout) passes; the leader gets every member's metadata for the
// protocol chosen by vote. group.instance.id (v5+) makes a static member
// (KIP-345); a static member rejoining unchanged skips the rebalance and a
// v9 leader is told SkipAssignment. Session timeouts are bounded by 6s and
// 30m (group.min/max.session.timeout.ms defaults). The first rebalance of an
// empty group waits group.initial.rebalance.delay.ms (3s), again after each
// new member, up to the rebalance timeout (Kafka's InitialDelayedJoin). A
// join whose protocols (names and metadata) exceed
// brokerlab.group.protocol.metadata.max.bytes (1 MiB) gets INVALID_REQUEST;
// a group id above 32767 bytes gets INVALID_GROUP_ID. A member answered
// MEMBER_ID_REQUIRED keeps nothing of its request but its timeouts.
//
// Not implemented: group.max.size, KIP-848 consumer groups
// (ConsumerGroupHeartbeat).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(11, 0, 9, handleJoinGroup) }

func handleJoinGroup(ctx context.Context, b *Broker, cc *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	resp := b.groups.JoinGroup(ctx, groupClient(cc), kreq.(*kmsg.JoinGroupRequest))
	if resp == nil {
		return nil, nil // the connection or the broker is closing
	}
	return resp, nil
}
