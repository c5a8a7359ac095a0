package broker

// TxnOffsetCommit: v0-4
//
// Behaviour: offsets committed inside a transaction (KIP-98), held by the
// transaction coordinator and applied to the group only when the
// transaction commits; while they wait, OffsetFetch with require_stable
// answers UNSTABLE_OFFSET_COMMIT for their partitions (KIP-447). The member
// fields (v3+) are checked as Kafka's GroupCoordinator does (unknown
// member, other generation, fenced static member); each partition as in
// OffsetCommit (unknown partition, metadata above
// offset.metadata.max.bytes). The group must have been added with
// AddOffsetsToTxn (else INVALID_TXN_STATE).
//
// Not implemented: v5+ (KIP-890).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/broker/txn"
)

func init() { register(28, 0, 4, handleTxnOffsetCommit) }

func handleTxnOffsetCommit(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.TxnOffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	generation, member := int32(-1), ""
	var instance *string
	if req.Version >= 3 {
		generation, member, instance = req.Generation, req.MemberID, req.InstanceID
	}
	all := b.groups.CheckTxnCommit(req.Group, member, generation, instance)
	var offsets []txn.PendingOffset
	for _, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			e := all
			if e == nil {
				e = b.groups.CheckTxnOffset(t.Topic, p.Partition, p.Metadata)
			}
			if e != nil {
				rp.ErrorCode = e.Code
			} else {
				epoch := p.LeaderEpoch
				if req.Version < 2 {
					epoch = -1
				}
				offsets = append(offsets, txn.PendingOffset{Topic: t.Topic, Partition: p.Partition, Offset: p.Offset, LeaderEpoch: epoch, Metadata: p.Metadata})
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if len(offsets) == 0 {
		return resp, nil
	}
	if e := b.txns.CommitOffsets(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group, offsets); e != nil {
		// The partitions answered without an error were to be committed.
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if p := &resp.Topics[i].Partitions[j]; p.ErrorCode == 0 {
					p.ErrorCode = e.Code
				}
			}
		}
	}
	return resp, nil
}
