package bpf

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerlab/brokerlab/broker"
	"github.com/brokerlab/brokerlab/internal/brokertest"
	"github.com/brokerlab/brokerlab/internal/testutil"
)

// TestBrokerFetchPathIsZeroCopyInSendfileMode runs the broker in-process in
// both fetch modes, consumes a partition with franz-go and compares the
// sendfile bytes the probe saw with the record bytes fetched.
func TestBrokerFetchPathIsZeroCopyInSendfileMode(t *testing.T) {
	for _, mode := range []string{broker.FetchModeSendfile, broker.FetchModeCopy} {
		t.Run("fetch mode "+mode, func(t *testing.T) {
			p := newTestProbes(t, Config{Families: []Family{FamilySendfile}})
			addr := brokertest.Start(t, func(cfg *broker.Config) { cfg.FetchMode = mode })
			const (
				records = 20000
				size    = 1024
			)
			produce(t, addr, "fetch-path", records, size)

			before := snapshot(t, p)
			fetched := consume(t, addr, "fetch-path", records)
			w := snapshot(t, p).Delta(before)
			sf := w.Value(FamilySendfile, "bytes")
			share, _ := w.Ratio(FamilySendfile, "zero_copy_share")
			t.Logf("mode %s: consumed %d record bytes; sendfile %d calls, %d bytes (%.1f%% of record bytes); socket bytes in sendfile %d, copied %d, zero-copy share %.3f",
				mode, fetched, w.Value(FamilySendfile, "calls"), sf, 100*float64(sf)/float64(fetched),
				w.Value(FamilySendfile, "socket_bytes_sendfile"), w.Value(FamilySendfile, "socket_bytes_copy"), share.Value)
			switch mode {
			case broker.FetchModeSendfile:
				if float64(sf) < 0.99*float64(fetched) {
					t.Errorf("sendfile bytes %d < 99%% of fetched record bytes %d", sf, fetched)
				}
			case broker.FetchModeCopy:
				if float64(sf) > 0.01*float64(fetched) {
					t.Errorf("copy mode: sendfile bytes %d, want ~0 (fetched %d)", sf, fetched)
				}
			}
		})
	}
}

func produce(t *testing.T, addr, topic string, n, size int) {
	t.Helper()
	// Uncompressed random values: the record bytes fetched are then the
	// bytes the broker has to move.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(1, 2))
	recs := make([]*kgo.Record, 0, 1000)
	for i := 0; i < n; i++ {
		val := make([]byte, size)
		for j := range val {
			val[j] = byte(rng.Uint32())
		}
		recs = append(recs, &kgo.Record{Value: val})
		if len(recs) == cap(recs) || i == n-1 {
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatalf("producing: %v", err)
			}
			recs = recs[:0]
		}
	}
}

// consume reads n records from the start and returns their value bytes.
func consume(t *testing.T, addr, topic string, n int) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var bytes int64
	testutil.PollRecords(ctx, t, cl, n, func(r *kgo.Record) { bytes += int64(len(r.Key) + len(r.Value)) })
	return bytes
}
