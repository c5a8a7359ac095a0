package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkFetchPartitions is one Fetch round trip over many partitions,
// each with one batch of records, from offset 0: what a consumer that
// keeps up with a producer spreading its records over many partitions
// gets, a small chunk of records per partition. It reports the broker's CPU
// per Fetch (broker-cpu-ns/op) and, as root, its syscalls per Fetch.
//
//	go test -run '^$' -bench 'FetchPartitions' -benchtime 2000x ./broker/
func BenchmarkFetchPartitions(b *testing.B) {
	for _, c := range []struct {
		partitions int32
		records    int // 1 KiB records per partition
	}{
		{200, 1}, {200, 4}, {200, 16}, {50, 64},
	} {
		b.Run(fmt.Sprintf("partitions=%d/chunk=%dKiB", c.partitions, c.records), func(b *testing.B) {
			tb := newTestBroker(b)
			setup := dialRaw(b, tb.addr)
			createTopicRaw(b, setup, "bench", c.partitions)
			v := make([]byte, 1024-10) // a 1 KiB record with its framing
			values := repeat(v, c.records)
			req := kmsg.NewPtrFetchRequest()
			req.Version = 12
			req.MinBytes = 1
			req.MaxBytes = 4 << 20
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = "bench"
			for p := range c.partitions {
				if r := produceRaw(b, setup, "bench", p, makeBatch(-1, -1, -1, time.Now().UnixMilli(), values...)); r.ErrorCode != 0 {
					b.Fatalf("produce to %d: error %d", p, r.ErrorCode)
				}
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition = p
				rp.PartitionMaxBytes = 1 << 20
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
			frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench")).AppendRequest(nil, req, 1)
			b.SetBytes(int64(c.partitions) * int64(c.records) * 1024)
			runRoundTrips(b, dialBench(b, tb.addr), frame, 1)
		})
	}
}
