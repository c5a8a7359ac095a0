package broker

// ListOffsets: v1-7
//
// Behaviour:
//   - Timestamp -2 (earliest): the log start offset; -1 (latest): the high
//     watermark (= last stable offset, no transactions); both answer
//     timestamp -1 as Kafka does.
//   - Timestamp >= 0: the first offset whose batch has a timestamp at or
//     after it, from the time index; none -> offset -1, timestamp -1.
//   - Timestamp -3 (max timestamp, v7, KIP-734): the offset and timestamp
//     of the record with the largest timestamp; -1, -1 for an empty log.
//   - UNKNOWN_TOPIC_OR_PARTITION per partition.
//   - The internal __consumer_offsets (once Metadata lists it): an empty
//     log, earliest and latest 0, by time and max timestamp -1
//     (offsets_topic.go).
//
// Not implemented: leader epochs (answered 0), -4/-5 (tiered storage, v8+).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(2, 1, 7, handleListOffsets) }

func handleListOffsets(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Offset, sp.Timestamp = -1, -1
			p := b.store.Partition(rt.Topic, rp.Partition)
			switch {
			case p == nil && b.isOffsetsTopicPartition(rt.Topic, rp.Partition):
				switch {
				case rp.Timestamp == -1 || rp.Timestamp == -2:
					sp.Offset = 0
				case rp.Timestamp < -3:
					sp.ErrorCode = kerr.UnsupportedVersion.Code
				}
			case p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case rp.Timestamp == -2:
				sp.Offset = p.LogStartOffset()
			case rp.Timestamp == -1:
				sp.Offset = p.HighWatermark()
			case rp.Timestamp == -3:
				if off, ts, ok := p.MaxTimestamp(); ok {
					sp.Offset, sp.Timestamp = off, ts
				}
			case rp.Timestamp < 0:
				sp.ErrorCode = kerr.UnsupportedVersion.Code
			default:
				if off, ts, ok := p.OffsetForTimestamp(rp.Timestamp); ok {
					sp.Offset, sp.Timestamp = off, ts
				}
			}
			sp.LeaderEpoch = 0
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
