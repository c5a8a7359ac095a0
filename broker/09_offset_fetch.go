package broker

// OffsetFetch: v0-9
//
// Behaviour: the committed offset, leader epoch and metadata of each
// requested partition, -1 where none was committed; a null topic list
// (v2+) returns every partition the group committed. v8+ (KIP-709) names
// several groups, each answered with its own error code (INVALID_GROUP_ID
// for an empty or over-long id). v9's member id and member epoch (KIP-848)
// are accepted and not checked: they matter only for consumer-protocol
// groups, and every group here is a classic one (Kafka's
// ClassicGroup.validateOffsetFetch ignores them too).
//
// Not implemented: RequireStable (v7+) waits for nothing: offsets committed
// inside a transaction are not pending here. v10 (topic ids, Kafka 4.1).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(9, 0, 9, handleOffsetFetch) }

func handleOffsetFetch(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	return b.groups.OffsetFetch(kreq.(*kmsg.OffsetFetchRequest)), nil
}
