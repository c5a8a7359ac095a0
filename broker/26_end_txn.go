package broker

// EndTxn: v0-4
//
// Behaviour: commits or aborts the producer's transaction: the decision
// (PrepareCommit/PrepareAbort) is written to the transaction log, a COMMIT
// or ABORT control batch to every partition of the transaction (each
// fdatasynced), a commit's offsets to their groups, then the completion;
// the answer comes after all of it. A repeated EndTxn of a completed
// transaction with the same outcome succeeds (a retry); the other outcome,
// or no transaction, gets INVALID_TXN_STATE. If a marker cannot be written
// after the decision is durable the answer is still success, and the
// coordinator retries the markers every
// transaction.abort.timed.out.transaction.cleanup.interval.ms (meanwhile
// the producer's next transaction gets CONCURRENT_TRANSACTIONS).
//
// Not implemented: v5 (KIP-890's epoch bump per transaction).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(26, 0, 4, handleEndTxn) }

func handleEndTxn(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	if e := b.txns.EndTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit); e != nil {
		resp.ErrorCode = e.Code
	}
	return resp, nil
}
