package broker

// ListGroups: v0-5
//
// Behaviour: every group, including Empty ones that only hold committed
// offsets, with its protocol type, state (v4+, filterable) and type (v5+,
// always "classic", filterable).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(16, 0, 5, handleListGroups) }

func handleListGroups(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	return b.groups.ListGroups(kreq.(*kmsg.ListGroupsRequest)), nil
}
