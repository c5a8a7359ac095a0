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
//     waits, up to max.wait.ms capped by brokerlab.fetch.max.wait.ms, on
//     the partitions' Wait() channels (woken by the next append, no
//     polling), and returns at once on shutdown or, once it has waited
//     100 ms, when the client closes its end of the connection
//     (Conn.watchPeer), which then frees the connection's goroutine and
//     descriptor.
//   - Per partition: OFFSET_OUT_OF_RANGE for an offset outside
//     [log start, high watermark], UNKNOWN_TOPIC_OR_PARTITION for a topic or
//     partition that does not exist; any error answers at once. The
//     internal __consumer_offsets is answered as an empty log
//     (offsets_topic.go).
//   - Fetch sessions (KIP-227): answered with session id 0, which tells the
//     client to send full fetches; a request naming a session id gets
//     FETCH_SESSION_ID_NOT_FOUND.
//   - Isolation level: read_uncommitted reads up to the high watermark;
//     read_committed (1) only up to the last stable offset (the first
//     offset of the oldest ongoing transaction), with the aborted
//     transactions overlapping the records sent beside them, as Kafka
//     does; the record bytes still go by sendfile. Every answer carries
//     the partition's last stable offset; preferred read replica -1.
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

// peerWatchDelay is how long a Fetch waits before it also watches for the
// client closing its end (Conn.watchPeer), so a client that leaves during
// a long poll frees its connection within this delay.
const peerWatchDelay = 100 * time.Millisecond

func handleFetch(ctx context.Context, b *Broker, cc *Conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.FetchRequest)
	fr := cc.fetchResponse(req.Version)
	if req.SessionID != 0 {
		fr.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return fr, nil
	}
	fr.SessionID = 0

	maxWait := min(time.Duration(req.MaxWaitMillis)*time.Millisecond, b.cfg.FetchMaxWait)
	var (
		expired = maxWait <= 0
		waiting bool // the timer runs
		until   time.Time
		waitCtx = ctx
		stop    func()
	)
	// Outside the loop, so that the defer is not allocated per Fetch.
	defer func() {
		if waiting {
			cc.fetchTimer.Stop()
		}
		if stop != nil {
			stop()
		}
	}()
	for {
		waits, total, answerNow := b.readFetch(req, fr, cc.fetchWaits[:0])
		cc.fetchWaits = waits[:0]
		if answerNow || expired || total >= int64(req.MinBytes) || len(waits) == 0 {
			b.metrics.fetchedBytes.Add(float64(total))
			return fr, nil
		}
		fr.release()
		if !waiting {
			// The first wait: only now start the timer (the
			// connection's, reused), so that a Fetch answered at once
			// costs none. The watch on the client (a goroutine and a
			// poll(2)) starts only if the wait outlasts peerWatchDelay:
			// a consumer that keeps up is woken by the next append long
			// before.
			until = time.Now().Add(maxWait)
			d := min(maxWait, peerWatchDelay)
			if cc.fetchTimer == nil {
				cc.fetchTimer = time.NewTimer(d)
			} else {
				cc.fetchTimer.Reset(d) // stopped; no stale tick since Go 1.23
			}
			waiting = true
		}
		// Wait for an append to any of the partitions, the deadline,
		// shutdown or the client's end of the connection closing; then
		// read again.
		b.metrics.fetchWaiting.Inc()
		i := cc.waitFetch(waitCtx.Done(), cc.fetchTimer.C, waits)
		b.metrics.fetchWaiting.Dec()
		switch i {
		case 0:
			expired = true
		case 1:
			if left := time.Until(until); stop == nil && left > 0 {
				waitCtx, stop = cc.watchPeer(ctx)
				cc.fetchTimer.Reset(left)
			} else {
				expired = true
			}
		}
	}
}

// waitFetch blocks until done or deadline (returning 0 or 1) or one of
// waits (returning 2 or more) is ready. One partition, a consumer's usual
// Fetch, waits in a select statement; more in reflect.Select, with the
// cases kept in the connection.
func (cc *Conn) waitFetch(done <-chan struct{}, deadline <-chan time.Time, waits []<-chan struct{}) int {
	if len(waits) == 1 {
		select {
		case <-done:
			return 0
		case <-deadline:
			return 1
		case <-waits[0]:
			return 2
		}
	}
	cases := append(cc.fetchCases[:0],
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(done)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(deadline)})
	for _, w := range waits {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w)})
	}
	i, _, _ := reflect.Select(cases)
	clear(cases) // drop the channels
	cc.fetchCases = cases[:0]
	return i
}

// readFetch fills fr with what is available now for every partition of
// req. It returns the wait channels of the partitions it read (taken
// before reading, so an append in between is not missed; appended to
// waits), the record bytes found, and whether an error means the request
// must be answered at once.
func (b *Broker) readFetch(req *kmsg.FetchRequest, fr *fetchResponse, waits []<-chan struct{}) (_ []<-chan struct{}, total int64, answerNow bool) {
	resp := fr.FetchResponse
	resp.Topics = resp.Topics[:0]
	fr.records = fr.records[:0]
	maxBytes := int64(req.MaxBytes)
	for _, rt := range req.Topics {
		var st *kmsg.FetchResponseTopic
		resp.Topics, st = extend(resp.Topics)
		*st = kmsg.FetchResponseTopic{Topic: rt.Topic, Partitions: st.Partitions[:0]}
		var recsp *[]storage.Slice
		fr.records, recsp = extend(fr.records)
		recs := (*recsp)[:0]
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			sp.PreferredReadReplica = -1
			var rec storage.Slice
			p := b.store.Partition(rt.Topic, rp.Partition)
			if p == nil && b.isOffsetsTopicPartition(rt.Topic, rp.Partition) {
				// An empty log (offsets_topic.go).
				var now bool
				sp.HighWatermark, sp.LogStartOffset, sp.ErrorCode, now = offsetsTopicFetch(rp.FetchOffset)
				sp.LastStableOffset = sp.HighWatermark
				answerNow = answerNow || now
				waits = append(waits, neverWakes)
				st.Partitions = append(st.Partitions, sp)
				recs = append(recs, rec)
				continue
			}
			if p == nil {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				answerNow = true
				st.Partitions = append(st.Partitions, sp)
				recs = append(recs, rec)
				continue
			}
			waits = append(waits, p.Wait())
			limit := int64(rp.PartitionMaxBytes)
			if left := maxBytes - total; left < limit {
				limit = left
			}
			if total == 0 || limit > 0 {
				var sl storage.Slice
				var err error
				if req.IsolationLevel == 1 {
					sl, sp.AbortedTransactions, err = b.readCommitted(p, rp.FetchOffset, int32(max(limit, 0)))
				} else {
					sl, err = p.Read(rp.FetchOffset, int32(max(limit, 0)))
				}
				switch {
				case err != nil:
					sp.ErrorCode = kafkaErrorCode(err)
					answerNow = true
				case total > 0 && sl.Size > limit:
					// Only the first partition with data may exceed the
					// limits (KIP-74).
					sl.Release()
				case sl.Size > 0:
					rec = sl
					total += sl.Size
				default:
					if sl.File != nil {
						sl.Release()
					}
				}
			}
			// After the read, so the high watermark covers what was read.
			sp.HighWatermark = p.HighWatermark()
			sp.LastStableOffset = min(p.LastStableOffset(), sp.HighWatermark)
			sp.LogStartOffset = p.LogStartOffset()
			if req.IsolationLevel == 1 && sp.AbortedTransactions == nil {
				sp.AbortedTransactions = noAborted // an empty list, not null, as Kafka answers read_committed
			}
			st.Partitions = append(st.Partitions, sp)
			recs = append(recs, rec)
		}
		*recsp = recs
	}
	return waits, total, answerNow
}

// noAborted is the empty aborted-transactions list of a read_committed
// answer; encoders only read it.
var noAborted = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}

// readCommitted reads p up to its last stable offset and converts the
// aborted transactions overlapping the records for the response.
func (b *Broker) readCommitted(p *storage.Partition, offset int64, maxBytes int32) (storage.Slice, []kmsg.FetchResponseTopicPartitionAbortedTransaction, error) {
	var buf [4]storage.AbortedTxn
	sl, aborted, _, err := p.ReadCommitted(offset, maxBytes, buf[:0])
	if len(aborted) == 0 {
		return sl, noAborted, err
	}
	out := make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, len(aborted))
	for i, a := range aborted {
		out[i] = kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		out[i].ProducerID, out[i].FirstOffset = a.ProducerID, a.FirstOffset
	}
	return sl, out, err
}

// extend lengthens s by one element and returns it. Within capacity the
// element keeps its old value, so the caller can reuse the slices in it.
func extend[T any](s []T) ([]T, *T) {
	if len(s) < cap(s) {
		s = s[:len(s)+1]
	} else {
		var zero T
		s = append(s, zero)
	}
	return s, &s[len(s)-1]
}
