package broker

// InitProducerId: v0-4
//
// Behaviour: hands an idempotent producer a new producer id, unique across
// restarts (storage.Store.NextProducerID), with epoch 0. A producer that
// asks to bump its epoch (v3+, KIP-360) gets a fresh id instead, which is
// equally valid and needs no per-producer state here.
//
// Not implemented: transactions (a transactional id gets
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(22, 0, 4, handleInitProducerID) }

func handleInitProducerID(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
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
