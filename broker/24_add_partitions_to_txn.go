package broker

// AddPartitionsToTxn: v0-3
//
// Behaviour: adds partitions to the producer's transaction in the
// transaction coordinator (package txn, built in 10_find_coordinator.go),
// durably before the answer; the first partition starts a transaction.
// Errors as Kafka's TransactionCoordinator: an unknown transactional id or
// another producer id INVALID_PRODUCER_ID_MAPPING, another epoch
// PRODUCER_FENCED, a transaction being completed CONCURRENT_TRANSACTIONS,
// an unknown partition UNKNOWN_TOPIC_OR_PARTITION (the others then
// OPERATION_NOT_ATTEMPTED), more than brokerlab.transaction.partitions.max
// partitions, groups and offsets in one transaction POLICY_VIOLATION.
//
// Not implemented: v4+ (KIP-890's batched broker-to-broker verification).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/broker/txn"
)

func init() { register(24, 0, 3, handleAddPartitionsToTxn) }

func handleAddPartitionsToTxn(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	var tps []txn.TopicPartition
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			tps = append(tps, txn.TopicPartition{Topic: t.Topic, Partition: p})
		}
	}
	errs := b.txns.AddPartitions(req.TransactionalID, req.ProducerID, req.ProducerEpoch, tps)
	i := 0
	for _, t := range req.Topics {
		rt := kmsg.NewAddPartitionsToTxnResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			rp.Partition = p
			if e := errs[i]; e != nil {
				rp.ErrorCode = e.Code
			}
			i++
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
