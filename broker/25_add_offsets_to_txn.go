package broker

// AddOffsetsToTxn: v0-4
//
// Behaviour: adds a group to the producer's transaction, so that its
// TxnOffsetCommits are applied when the transaction commits (Kafka adds
// the group's __consumer_offsets partition). Errors as AddPartitionsToTxn.
//
// Not implemented: TRANSACTION_ABORTABLE (v4, KIP-890): never returned.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(25, 0, 4, handleAddOffsetsToTxn) }

func handleAddOffsetsToTxn(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	if e := b.txns.AddOffsets(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group); e != nil {
		resp.ErrorCode = e.Code
	}
	return resp, nil
}
