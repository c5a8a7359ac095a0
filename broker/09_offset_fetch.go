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
// With require_stable (v7+), a partition whose offset waits in an
// unfinished transaction (TxnOffsetCommit) gets UNSTABLE_OFFSET_COMMIT
// (KIP-447), which clients retry.
//
// Not implemented: v10 (topic ids, Kafka 4.1).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(9, 0, 9, handleOffsetFetch) }

func handleOffsetFetch(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetFetchRequest)
	resp := b.groups.OffsetFetch(req)
	if req.RequireStable {
		for i := range resp.Topics {
			t := &resp.Topics[i]
			for j := range t.Partitions {
				if p := &t.Partitions[j]; p.ErrorCode == 0 && b.txns.PendingOffset(req.Group, t.Topic, p.Partition) {
					p.ErrorCode, p.Offset = kerr.UnstableOffsetCommit.Code, -1
				}
			}
		}
		for i := range resp.Groups { // v8+
			g := &resp.Groups[i]
			for j := range g.Topics {
				t := &g.Topics[j]
				for k := range t.Partitions {
					if p := &t.Partitions[k]; p.ErrorCode == 0 && b.txns.PendingOffset(g.Group, t.Topic, p.Partition) {
						p.ErrorCode, p.Offset = kerr.UnstableOffsetCommit.Code, -1
					}
				}
			}
		}
	}
	return resp, nil
}
