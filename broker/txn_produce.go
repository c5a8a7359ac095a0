package broker

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/broker/txn"
)

// verifyTxnProduce checks a transactional Produce against the transaction
// coordinator, as Kafka's KIP-890 verification does: every partition must
// be in the producer's ongoing transaction (else INVALID_TXN_STATE), with
// the transaction's producer id and epoch (else INVALID_PRODUCER_EPOCH, or
// INVALID_PRODUCER_ID_MAPPING for another producer). Without it, a write
// that arrives after its transaction ended would start a transaction the
// coordinator never ends, holding the last stable offset back for good.
// The transaction stays locked until the returned function is called,
// after the appends.
func (b *Broker) verifyTxnProduce(req *kmsg.ProduceRequest, resp *kmsg.ProduceResponse) func() {
	pid, epoch := int64(-1), int16(-1)
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			// producerId at byte 43, producerEpoch at 51 of a v2 batch
			// header (Kafka's DefaultRecordBatch); validation of the
			// batch itself is the log's.
			if len(rp.Records) >= 61 && pid < 0 {
				pid = int64(binary.BigEndian.Uint64(rp.Records[43:]))
				epoch = int16(binary.BigEndian.Uint16(rp.Records[51:]))
			}
		}
	}
	unlock, in, e := b.txns.LockProducer(*req.TransactionID, pid, epoch)
	for ti, rt := range req.Topics {
		for pi := range rt.Partitions {
			sp := &resp.Topics[ti].Partitions[pi]
			if sp.ErrorCode != 0 {
				continue
			}
			switch {
			case e != nil:
				sp.ErrorCode = e.Code
			case !in(txn.TopicPartition{Topic: rt.Topic, Partition: sp.Partition}):
				sp.ErrorCode = kerr.InvalidTxnState.Code
			}
		}
	}
	return unlock
}
