package broker

// DescribeLogDirs: v0-4
//
// Behaviour:
//   - Every log dir (log.dirs order, absolute paths) with the partitions it
//     holds: all of them for a null topic list, else only the partitions
//     named (a name or partition the broker does not hold is left out, as
//     Kafka leaves it out). Per partition: the bytes in its segments, offset
//     lag 0 (one node: the high watermark is the log end offset; Kafka
//     answers max(high watermark - log end offset, 0) for a current log), is
//     future false.
//   - v4: the filesystem's total and usable bytes from statfs(2) (f_blocks
//     and f_bavail times f_frsize, what Java's FileStore reports to Kafka).
//   - A dir that statfs cannot describe gets KAFKA_STORAGE_ERROR (Kafka's
//     answer for an offline dir), without partitions.
//
// Not implemented: v5 (cordoned log dirs, KIP-1066, Kafka 4.1); future
// replicas (no AlterReplicaLogDirs).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(35, 0, 4, handleDescribeLogDirs) }

func handleDescribeLogDirs(_ context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	var keep func(string, int32) bool
	if req.Topics != nil {
		want := map[string]map[int32]bool{}
		for _, rt := range req.Topics {
			if want[rt.Topic] == nil {
				want[rt.Topic] = map[int32]bool{}
			}
			for _, p := range rt.Partitions {
				want[rt.Topic][p] = true
			}
		}
		keep = func(topic string, partition int32) bool { return want[topic][partition] }
	}
	for _, ld := range b.store.LogDirs(keep) {
		d := kmsg.NewDescribeLogDirsResponseDir()
		d.Dir = ld.Path
		d.TotalBytes, d.UsableBytes = ld.TotalBytes, ld.UsableBytes
		if ld.Err != nil {
			b.logger.Warn("describing log dir", "dir", ld.Path, "err", ld.Err)
			d.ErrorCode = kerr.KafkaStorageError.Code
			resp.Dirs = append(resp.Dirs, d)
			continue
		}
		for _, p := range ld.Partitions {
			if n := len(d.Topics); n == 0 || d.Topics[n-1].Topic != p.Topic {
				t := kmsg.NewDescribeLogDirsResponseDirTopic()
				t.Topic = p.Topic
				d.Topics = append(d.Topics, t)
			}
			t := &d.Topics[len(d.Topics)-1]
			sp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			sp.Partition, sp.Size = p.Partition, p.Size
			t.Partitions = append(t.Partitions, sp)
		}
		resp.Dirs = append(resp.Dirs, d)
	}
	return resp, nil
}
