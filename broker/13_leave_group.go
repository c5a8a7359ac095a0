package broker

// LeaveGroup: v0-4
//
// Behaviour: removes the member (v3+: each member of the batch, static
// ones by group.instance.id) and starts a rebalance for the rest; a member
// that only got MEMBER_ID_REQUIRED is forgotten without one.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(13, 0, 4, handleLeaveGroup) }

func handleLeaveGroup(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	return b.groups.LeaveGroup(kreq.(*kmsg.LeaveGroupRequest)), nil
}
