package broker

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"syscall"
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
			req := fetchOne(12, "bench", 0, 0, 8<<20)
			req.MinBytes = 1
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

// BenchmarkFetchIsolation measures one Fetch of up to 1 MiB (sendfile)
// from a log of transactions (one in ten aborted) at read_uncommitted and
// read_committed, walking the whole log; the broker's extra work for
// read_committed is the LSO bound and the aborted-transaction lookup.
func BenchmarkFetchIsolation(b *testing.B) {
	for _, level := range []int8{0, 1} {
		b.Run([]string{"read_uncommitted", "read_committed"}[level], func(b *testing.B) {
			tb := newTestBroker(b)
			rc := dialRaw(b, tb.addr)
			createTopicRaw(b, rc, "iso", 1)
			p := tb.Store().Partition("iso", 0)
			value := bytes.Repeat([]byte("x"), 1000)
			seq := int32(0)
			for txn := range 200 {
				for range 10 {
					batch := makeBatch(7, 0, seq, 1, repeat(value, 100)...)
					binary.BigEndian.PutUint16(batch[21:], 0x10) // transactional
					binary.BigEndian.PutUint32(batch[17:], crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli)))
					if _, err := p.Append(batch, false); err != nil {
						b.Fatal(err)
					}
					seq += 100
				}
				if err := p.WriteTxnMarker(7, 0, txn%10 != 9, 0); err != nil {
					b.Fatal(err)
				}
			}
			hwm := p.HighWatermark()
			req := fetchOne(12, "iso", 0, 0, 1<<20)
			req.MinBytes, req.IsolationLevel = 1, level
			var total int64
			offset := int64(0)
			cpu0 := processCPU(b)
			b.ResetTimer()
			for b.Loop() {
				req.Topics[0].Partitions[0].FetchOffset = offset
				rc.send(req)
				body, err := rc.readFrame()
				if err != nil {
					b.Fatal(err)
				}
				total += int64(len(body)) + 4
				b.StopTimer()
				resp := kmsg.NewPtrFetchResponse()
				resp.Version = 12
				if err := resp.ReadFrom(body[5:]); err != nil {
					b.Fatal(err)
				}
				offset = nextOffset(resp.Topics[0].Partitions[0].RecordBatches, offset)
				if offset >= hwm {
					offset = 0
				}
				b.StartTimer()
			}
			b.SetBytes(total / int64(max(b.N, 1)))
			// CPU time (this process: broker and client, the client's part
			// the same at both levels), less disturbed by a busy machine
			// than wall time. It includes the decoding done between
			// timed sections.
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(max(b.N, 1)), "cpu-ns/op")
		})
	}
}

// processCPU is this process's user+system CPU time in ns.
func processCPU(tb testing.TB) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// nextOffset is the offset after the last batch in records.
func nextOffset(records []byte, from int64) int64 {
	for len(records) >= 61 {
		base := int64(binary.BigEndian.Uint64(records))
		n := int(binary.BigEndian.Uint32(records[8:])) + 12
		from = base + int64(binary.BigEndian.Uint32(records[23:])) + 1
		records = records[n:]
	}
	return from
}
