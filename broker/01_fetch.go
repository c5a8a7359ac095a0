package broker

// Fetch: v4-12
//
// Behaviour:
//   - Reads whole record batches from the log (storage.Partition.Read) and
//     sends them with sendfile(2) straight from the segment file
//     (fetch_wire.go); brokerlab.fetch.mode=copy sends the same bytes
//     through a buffer instead, for A/B comparisons.
//   - max.bytes and partition max bytes are honoured; the first partition
//     with data always gets at least one whole batch (KIP-74).
//   - Long polling: when fewer than min.bytes are available the request
//     waits, up to max.wait.ms, on the partitions' Wait() channels (woken
//     by the next append, no polling), and returns at once on shutdown or
//     when the connection goes away.
//   - Per partition: OFFSET_OUT_OF_RANGE for an offset outside
//     [log start, high watermark], UNKNOWN_TOPIC_OR_PARTITION for a topic or
//     partition that does not exist; any error answers at once.
//   - Fetch sessions (KIP-227): answered with session id 0, which tells the
//     client to send full fetches; a request naming a session id gets
//     FETCH_SESSION_ID_NOT_FOUND.
//   - Last stable offset = high watermark (no transactions), no aborted
//     transactions, preferred read replica -1.
//
// Not implemented: incremental fetch sessions, forgotten topics (only
// meaningful with sessions), rack-aware replica selection, v13+ topic ids.

import (
	"context"
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/broker/storage"
)

func init() { register(1, 4, 12, handleFetch) }

func handleFetch(ctx context.Context, b *Broker, _ *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	fr := &fetchResponse{FetchResponse: resp, mode: b.cfg.FetchMode}
	if req.SessionID != 0 {
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return fr, nil
	}
	resp.SessionID = 0

	var deadline <-chan time.Time
	if req.MaxWaitMillis > 0 {
		t := time.NewTimer(time.Duration(req.MaxWaitMillis) * time.Millisecond)
		defer t.Stop()
		deadline = t.C
	}
	expired := req.MaxWaitMillis <= 0
	for {
		waits, total, answerNow := b.readFetch(req, fr)
		if answerNow || expired || total >= int64(req.MinBytes) || len(waits) == 0 {
			b.metrics.fetchedBytes.Add(float64(total))
			return fr, nil
		}
		fr.release()
		// Wait for an append to any of the partitions, the deadline,
		// shutdown or the connection's end; then read again.
		cases := make([]reflect.SelectCase, 0, len(waits)+2)
		cases = append(cases,
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(deadline)})
		for _, w := range waits {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w)})
		}
		b.metrics.fetchWaiting.Inc()
		i, _, _ := reflect.Select(cases)
		b.metrics.fetchWaiting.Dec()
		switch i {
		case 0, 1:
			expired = true
		}
	}
}

// readFetch fills fr with what is available now for every partition of
// req. It returns the wait channels of the partitions it read (taken
// before reading, so an append in between is not missed), the record
// bytes found, and whether an error means the request must be answered
// at once.
func (b *Broker) readFetch(req *kmsg.FetchRequest, fr *fetchResponse) (waits []<-chan struct{}, total int64, answerNow bool) {
	resp := fr.FetchResponse
	resp.Topics = resp.Topics[:0]
	fr.records = fr.records[:0]
	maxBytes := int64(req.MaxBytes)
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic = rt.Topic
		recs := make([]storage.Slice, len(rt.Partitions))
		for i, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			sp.PreferredReadReplica = -1
			p := b.store.Partition(rt.Topic, rp.Partition)
			if p == nil {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				answerNow = true
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			waits = append(waits, p.Wait())
			limit := int64(rp.PartitionMaxBytes)
			if left := maxBytes - total; left < limit {
				limit = left
			}
			if total == 0 || limit > 0 {
				sl, err := p.Read(rp.FetchOffset, int32(max(limit, 0)))
				switch {
				case err != nil:
					sp.ErrorCode = kafkaErrorCode(err)
					answerNow = true
				case total > 0 && sl.Size > limit:
					// Only the first partition with data may exceed the
					// limits (KIP-74).
					sl.Release()
				case sl.Size > 0:
					recs[i] = sl
					total += sl.Size
				default:
					if sl.File != nil {
						sl.Release()
					}
				}
			}
			// After the read, so the high watermark covers what was read.
			sp.HighWatermark = p.HighWatermark()
			sp.LastStableOffset = sp.HighWatermark
			sp.LogStartOffset = p.LogStartOffset()
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
		fr.records = append(fr.records, recs)
	}
	return waits, total, answerNow
}
