package broker

// DescribeTransactions: v0
//
// Behaviour: the state, producer id and epoch, timeout, start time and
// partitions of each transactional id (KIP-664); an unknown id gets
// TRANSACTIONAL_ID_NOT_FOUND.

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(65, 0, 0, handleDescribeTransactions) }

func handleDescribeTransactions(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID = id
		t, ok := b.txns.Describe(id)
		if !ok {
			st.ErrorCode = kerr.TransactionalIDNotFound.Code
			st.ProducerID, st.ProducerEpoch, st.StartTimestamp = -1, -1, -1
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		st.State, st.TimeoutMillis, st.StartTimestamp = t.State, int32(t.Timeout.Milliseconds()), t.StartMs
		st.ProducerID, st.ProducerEpoch = t.ProducerID, t.Epoch
		byTopic := map[string][]int32{}
		for _, tp := range t.Partitions {
			byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
		}
		for topic, ps := range byTopic {
			rt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
			rt.Topic, rt.Partitions = topic, ps
			st.Topics = append(st.Topics, rt)
		}
		sort.Slice(st.Topics, func(i, j int) bool { return st.Topics[i].Topic < st.Topics[j].Topic })
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp, nil
}
