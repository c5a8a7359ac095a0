package broker

// Heartbeat: v0-4
//
// Behaviour: extends the member's session; REBALANCE_IN_PROGRESS while the
// group prepares a rebalance (the member must rejoin), ILLEGAL_GENERATION
// for an old generation, UNKNOWN_MEMBER_ID for a member (or group) the
// coordinator does not know, FENCED_INSTANCE_ID for a replaced static
// member.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(12, 0, 4, handleHeartbeat) }

func handleHeartbeat(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	return b.groups.Heartbeat(kreq.(*kmsg.HeartbeatRequest)), nil
}
