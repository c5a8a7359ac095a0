package broker

// OffsetFetch: v0-7
//
// Behaviour: the committed offset, leader epoch and metadata of each
// requested partition, -1 where none was committed; a null topic list
// (v2+) returns every partition the group committed.
//
// Not implemented: v8+ (several groups per request; package group answers
// them, but they are not advertised), RequireStable (v7: there are no
// transactions, so nothing is ever unstable).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(9, 0, 7, handleOffsetFetch) }

func handleOffsetFetch(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	return b.groups.OffsetFetch(kreq.(*kmsg.OffsetFetchRequest)), nil
}
