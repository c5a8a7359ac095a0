package bench

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Acks records the records acknowledged to producers, and when; safe for
// concurrent use.
type Acks struct {
	mu sync.Mutex
	m  map[key]ackAt
}

type ackAt struct {
	ack
	at time.Time
}

// NewAcks returns an empty set.
func NewAcks() *Acks { return &Acks{m: map[key]ackAt{}} }

// Len is the number of acknowledged records.
func (a *Acks) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.m)
}

func (a *Acks) add(k key, r *kgo.Record) {
	a.mu.Lock()
	a.m[k] = ackAt{ack{r.Partition, r.Offset}, time.Now()}
	a.mu.Unlock()
}

// NewProducer returns an idempotent acks=all producer for topic (records
// name their partition).
func NewProducer(addr, topic string) (*kgo.Client, error) {
	return kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedRecords(1000), kgo.RecordDeliveryTimeout(5*time.Second))
}

// Produce sends producer's records 0, 1, 2, … to partition until ctx ends,
// recording each acknowledgement in acks. Records still buffered or in
// flight when ctx ends fail when the caller closes cl: never acknowledged.
// producer must be unique among the producers checked against one Acks.
func Produce(ctx context.Context, cl *kgo.Client, producer, partition int32, acks *Acks) {
	for seq := int64(0); ctx.Err() == nil; seq++ {
		k := key{producer, seq}
		cl.Produce(ctx, &kgo.Record{Partition: partition, Value: encode(producer, seq)}, func(r *kgo.Record, err error) {
			if err == nil {
				acks.add(k, r)
			}
		})
	}
}

// Verify reads topic back from the broker at addr and checks it against
// acks, the acknowledgements of the producers that wrote it (one Acks per
// topic): every acknowledged record at its offset, once, in order, and no
// batch served corrupt. expired, if set, says which missing
// records retention may have deleted (by their acknowledgement time); they
// count as Expired, not Lost.
func Verify(ctx context.Context, addr, topic string, acks *Acks, expired func(ackedAt time.Time) bool) (KillTrial, error) {
	var tr KillTrial
	found, corrupt, err := readAll(ctx, addr, topic)
	if err != nil {
		return tr, err
	}
	tr.Corrupt = int64(corrupt)
	return check(tr, found, acks, expired), nil
}

// VerifyMissing counts every acknowledged record as lost (or expired): the
// topic did not come back at all.
func VerifyMissing(acks *Acks, expired func(time.Time) bool) KillTrial {
	return check(KillTrial{}, nil, acks, expired)
}

func check(tr KillTrial, found []record, acks *Acks, expired func(time.Time) bool) KillTrial {
	acks.mu.Lock()
	defer acks.mu.Unlock()
	seen := map[key]int{}
	last := map[int32]int64{}
	for _, f := range found {
		seen[f.key]++
		if seen[f.key] == 2 {
			tr.Duplicates++
		}
		if prev, ok := last[f.key.producer]; ok && f.key.seq <= prev {
			tr.OutOfOrder++
		}
		last[f.key.producer] = f.key.seq
		if _, ok := acks.m[f.key]; !ok && seen[f.key] == 1 {
			tr.Unacked++
		}
	}
	at := map[ack]key{}
	for _, f := range found {
		at[ack{f.partition, f.offset}] = f.key
	}
	for k, a := range acks.m {
		tr.Acked++
		if got, ok := at[a.ack]; !ok || got != k {
			if expired != nil && expired(a.at) {
				tr.Expired++
			} else {
				tr.Lost++
			}
		}
	}
	return tr
}
