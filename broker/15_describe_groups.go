package broker

// DescribeGroups: v0-5
//
// Behaviour: state, protocol type and members (client id, host); the
// protocol, member metadata and assignments only when the group is Stable,
// as Kafka. An unknown group is "Dead" with no error. Authorized operations
// (v3+, when asked) are READ, DELETE and DESCRIBE: there are no ACLs.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(15, 0, 5, handleDescribeGroups) }

func handleDescribeGroups(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	return b.groups.DescribeGroups(kreq.(*kmsg.DescribeGroupsRequest)), nil
}
