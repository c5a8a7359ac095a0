package broker

// ListTransactions: v0
//
// Behaviour: every transactional id with its producer id and state
// (KIP-664), filtered by state and producer id; state names this broker
// does not know come back in UnknownStateFilters.
//
// Not implemented: v1's duration filter (KIP-994).

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(66, 0, 0, handleListTransactions) }

// txnStates are the states ListTransactions can filter on (Kafka's
// TransactionState names).
var txnStates = []string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

func handleListTransactions(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	for _, s := range req.StateFilters {
		if !slices.Contains(txnStates, s) {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, s)
		}
	}
	for _, t := range b.txns.List() {
		if len(req.StateFilters) > 0 && !slices.Contains(req.StateFilters, t.State) {
			continue
		}
		if len(req.ProducerIDFilters) > 0 && !slices.Contains(req.ProducerIDFilters, t.ProducerID) {
			continue
		}
		st := kmsg.NewListTransactionsResponseTransactionState()
		st.TransactionalID, st.ProducerID, st.TransactionState = t.ID, t.ProducerID, t.State
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp, nil
}
