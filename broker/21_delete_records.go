package broker

// DeleteRecords: v0-2
//
// Behaviour:
//   - Moves each partition's log start offset up to the requested offset
//     (-1: the high watermark) with storage.Partition.DeleteRecords: the
//     new start is fsync'd in the dir's log-start-offset-checkpoint before
//     the answer, the segments wholly below it are deleted at once (Kafka
//     leaves that to its next retention pass), and Fetch below it answers
//     OFFSET_OUT_OF_RANGE, ListOffsets earliest the new start.
//   - The low watermark answered is the log start offset after the request
//     (unchanged when the offset is not above it), as Kafka answers.
//   - Errors per partition, as Kafka's ReplicaManager.deleteRecords gives
//     them: OFFSET_OUT_OF_RANGE for an offset below -1 or above the high
//     watermark, UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC_EXCEPTION for
//     __consumer_offsets ("Cannot delete records of internal topic"),
//     KAFKA_STORAGE_ERROR when the checkpoint cannot be written (nothing
//     changed then); low watermark -1 with an error.
//
// Not implemented: nothing notable (the timeout does not apply: one node,
// the deletion is done before the answer).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(21, 0, 2, handleDeleteRecords) }

func handleDeleteRecords(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition, sp.LowWatermark = rp.Partition, -1
			switch p := b.store.Partition(rt.Topic, rp.Partition); {
			case rt.Topic == offsetsTopicName && b.groups.OffsetsTopicExists():
				sp.ErrorCode = kerr.InvalidTopicException.Code
			case p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				lw, err := p.DeleteRecords(rp.Offset)
				if err != nil {
					sp.ErrorCode = kafkaErrorCode(err)
				} else {
					sp.LowWatermark = lw
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
