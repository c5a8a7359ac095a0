package broker

// Produce: v3-12
//
// Behaviour:
//   - acks=0: appended, no response at all (the client expects none); if
//     a partition fails the connection is closed, as Kafka does.
//   - acks=1 and acks=-1: appended, then answered. With
//     log.flush.sync.on.ack=true an acks=-1 request (only those) is
//     answered after an fdatasync covering its data (group commit), which
//     is what acks=-1 promises on a single node; its partitions are then
//     appended in parallel so that one request waits for one round of
//     fsyncs, not one per partition. This is decided here once per
//     request and passed to Append.
//   - Batches are validated by the log (magic v2, length, CRC32C,
//     message.max.bytes, compressed records decompressing to at most
//     brokerlab.message.max.decompressed.bytes, else MESSAGE_TOO_LARGE);
//     its kerr errors go back per partition
//     (CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, OUT_OF_ORDER_SEQUENCE_NUMBER,
//     INVALID_PRODUCER_EPOCH ...), any other error as KAFKA_STORAGE_ERROR.
//   - Idempotence: a resent batch (one of the producer's last five) gets
//     the original offsets back and is not appended again.
//   - A topic or partition that does not exist: UNKNOWN_TOPIC_OR_PARTITION
//     (Produce never creates topics, as in Kafka). The internal
//     __consumer_offsets topic: INVALID_TOPIC_EXCEPTION, as in Kafka.
//
// Not implemented: transactions (a transactional id gets
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED), quotas (throttle 0), v13 topic ids.

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(0, 3, 12, handleProduce) }

// produceJob is one partition's append of a Produce request; rp points
// into the response being built.
type produceJob struct {
	topic string
	rp    *kmsg.ProduceResponseTopicPartition
	recs  []byte
}

// handleProduce answers in the connection's reused response, whose slices
// keep their capacity; the request's topic names and records borrow the
// request body (conn_body.go), so nothing of them is kept past the
// response: storage.Partition.Append has written the records when it
// returns.
func handleProduce(_ context.Context, b *Broker, cc *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ProduceRequest)
	resp := &cc.produceResp
	*resp = kmsg.ProduceResponse{Version: req.Version, Topics: resp.Topics[:0]}

	jobs := cc.produceJobs[:0]
	for _, rt := range req.Topics {
		var st *kmsg.ProduceResponseTopic
		resp.Topics, st = extend(resp.Topics)
		parts := st.Partitions[:0]
		*st = kmsg.ProduceResponseTopic{Topic: rt.Topic}
		for _, rp := range rt.Partitions {
			var sp *kmsg.ProduceResponseTopicPartition
			parts, sp = extend(parts)
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset = -1
			sp.LogAppendTime = -1
			sp.LogStartOffset = -1
			switch {
			case req.TransactionID != nil:
				sp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
				sp.ErrorCode = kerr.InvalidRequiredAcks.Code
			case rt.Topic == offsetsTopicName:
				// Kafka's ReplicaManager: "Cannot append to internal topic".
				sp.ErrorCode = kerr.InvalidTopicException.Code
			}
		}
		st.Partitions = parts
	}
	// Jobs point into the partitions' arrays, complete from here on.
	for ti, rt := range req.Topics {
		for pi, rp := range rt.Partitions {
			if sp := &resp.Topics[ti].Partitions[pi]; sp.ErrorCode == 0 {
				jobs = append(jobs, produceJob{topic: rt.Topic, rp: sp, recs: rp.Records})
			}
		}
	}
	cc.produceJobs = jobs[:0]
	syncAck := b.cfg.FlushSyncOnAck && req.Acks == -1
	if syncAck && len(jobs) > 1 {
		b.produceParallel(jobs)
	} else {
		for i := range jobs {
			b.produceOne(&jobs[i], syncAck)
		}
	}
	if req.Acks == 0 {
		// No response; an error closes the connection instead, which is
		// how Kafka tells an acks=0 producer that something failed.
		for _, j := range jobs {
			if j.rp.ErrorCode != 0 {
				return nil, fmt.Errorf("acks=0 produce to %s/%d: %w", j.topic, j.rp.Partition, kerr.ErrorForCode(j.rp.ErrorCode))
			}
		}
		return nil, nil
	}
	return resp, nil
}

// produceParallel appends the jobs' records at once, each waiting for its
// fdatasync. It is a function of its own so that jobs, captured by the
// goroutines, escapes only on this path.
func (b *Broker) produceParallel(jobs []produceJob) {
	var wg sync.WaitGroup
	for i := range jobs {
		wg.Add(1)
		go func() { defer wg.Done(); b.produceOne(&jobs[i], true) }()
	}
	wg.Wait()
}

// produceOne appends one partition's records and fills its response;
// syncAck makes the append wait for an fdatasync covering it.
func (b *Broker) produceOne(j *produceJob, syncAck bool) {
	p := b.store.Partition(j.topic, j.rp.Partition)
	if p == nil {
		j.rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return
	}
	res, err := p.Append(j.recs, syncAck)
	if err != nil {
		j.rp.ErrorCode = kafkaErrorCode(err)
		return
	}
	j.rp.BaseOffset = res.BaseOffset
	j.rp.LogAppendTime = res.LogAppendTime
	j.rp.LogStartOffset = res.LogStartOffset
	if !res.Duplicate {
		batches, records := countBatches(j.recs)
		b.metrics.producedBatches.Add(float64(batches))
		b.metrics.producedRecords.Add(float64(records))
	}
}

// countBatches counts the record batches and records in a produce
// request's records field (batch length at byte 8, record count at byte 57
// of a v2 batch header).
func countBatches(recs []byte) (batches, records int) {
	for len(recs) >= 61 {
		n := int(int32(binary.BigEndian.Uint32(recs[8:])))
		if n < 49 || 12+n > len(recs) {
			break
		}
		batches++
		records += int(int32(binary.BigEndian.Uint32(recs[57:])))
		recs = recs[12+n:]
	}
	return batches, records
}
