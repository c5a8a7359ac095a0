package broker

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkFetch measures Fetch throughput over loopback in sendfile mode
// and in copy mode: each iteration fetches up to 8 MiB of a partition
// already in the page cache and reads the whole response.
func BenchmarkFetch(b *testing.B) {
	for _, mode := range []string{FetchModeSendfile, FetchModeCopy} {
		b.Run(mode, func(b *testing.B) {
			tb := newTestBroker(b, func(c *Config) { c.FetchMode = mode })
			rc := dialRaw(b, tb.addr)
			createTopicRaw(b, rc, "bench", 1)
			value := bytes.Repeat([]byte("x"), 1000)
			batch := makeBatch(-1, -1, -1, 1, repeat(value, 900)...) // ~0.9 MB per batch
			for range 20 {
				if p := produceRaw(b, rc, "bench", 0, batch); p.ErrorCode != 0 {
					b.Fatal(kerr.ErrorForCode(p.ErrorCode))
				}
			}
			req := kmsg.NewPtrFetchRequest()
			req.Version = 12
			req.MaxBytes = 8 << 20
			req.MinBytes = 1
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic = "bench"
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.PartitionMaxBytes = 8 << 20
			ft.Partitions = append(ft.Partitions, fp)
			req.Topics = append(req.Topics, ft)
			frame := kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)
			b.ResetTimer()
			var total int64
			for b.Loop() {
				if _, err := rc.nc.Write(frame); err != nil {
					b.Fatal(err)
				}
				body, err := rc.readFrame()
				if err != nil {
					b.Fatal(err)
				}
				total += int64(len(body)) + 4
			}
			b.SetBytes(total / int64(max(b.N, 1)))
		})
	}
}

func repeat(v []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = v
	}
	return out
}
