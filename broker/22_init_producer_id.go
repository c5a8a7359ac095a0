package broker

// InitProducerId: v0-4
//
// Behaviour: without a transactional id, hands an idempotent producer a new
// producer id, unique across restarts (storage.Store.NextProducerID), with
// epoch 0; a producer that asks to bump its epoch (v3+, KIP-360) gets a
// fresh id instead, which is equally valid and needs no per-producer state
// here. With a transactional id, the transaction coordinator (package txn)
// answers: a new id gets a producer id at epoch 0, a known one its epoch
// bumped (fencing older producers with the same id) after aborting its
// ongoing transaction; a transaction timeout above
// transaction.max.timeout.ms gets INVALID_TRANSACTION_TIMEOUT, a producer id
// and epoch (v3+) that are not the current ones PRODUCER_FENCED, a new
// transactional id beyond brokerlab.transactional.ids.max POLICY_VIOLATION.
//
// Not implemented: v5+ (KIP-890's TRANSACTION_ABORTABLE).

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(22, 0, 4, handleInitProducerID) }

func handleInitProducerID(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		pid, epoch, e := b.txns.InitProducerID(*req.TransactionalID, time.Duration(req.TransactionTimeoutMillis)*time.Millisecond, req.ProducerID, req.ProducerEpoch)
		if e != nil {
			resp.ErrorCode = e.Code
			return resp, nil
		}
		resp.ProducerID, resp.ProducerEpoch = pid, epoch
		return resp, nil
	}
	id, err := b.store.NextProducerID()
	if err != nil {
		resp.ErrorCode = kafkaErrorCode(err)
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp, nil
}
