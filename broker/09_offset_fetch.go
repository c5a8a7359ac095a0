package broker

// OffsetFetch: v0-7
//
// Behaviour: the committed offset, leader epoch and metadata of each
// requested partition, -1 where none was committed; a null topic list
// (v2+) returns every partition the group committed.
//
// With require_stable (v7), a partition whose offset waits in an
// unfinished transaction (TxnOffsetCommit) gets UNSTABLE_OFFSET_COMMIT
// (KIP-447), which clients retry.
//
// Not implemented: v8+ (several groups per request; package group answers
// them, but they are not advertised).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(9, 0, 7, handleOffsetFetch) }

func handleOffsetFetch(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetFetchRequest)
	resp := b.groups.OffsetFetch(req)
	if req.RequireStable {
		for i := range resp.Topics {
			t := &resp.Topics[i]
			for j := range t.Partitions {
				if p := &t.Partitions[j]; p.ErrorCode == 0 && b.txns.PendingOffset(req.Group, t.Topic, p.Partition) {
					p.ErrorCode = kerr.UnstableOffsetCommit.Code
					p.Offset = -1
				}
			}
		}
	}
	return resp, nil
}
