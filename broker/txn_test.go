package broker

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// consumeValues reads topic from the start with the isolation level until
// every partition reaches the offset ListOffsets gives for that level, and
// returns the record values sorted.
func consumeValues(t *testing.T, addr, topic string, committed bool) []string {
	t.Helper()
	ctx := context.Background()
	adm := newAdmin(t, addr)
	list := adm.ListEndOffsets
	iso := kgo.ReadUncommitted()
	if committed {
		list, iso = adm.ListCommittedOffsets, kgo.ReadCommitted()
	}
	ends, err := list(ctx, topic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("listing offsets: %v %v", err, ends.Error())
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	var out []string
	if len(want) == 0 {
		return out
	}
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso), kgo.KeepControlRecords())
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for len(want) > 0 {
		fs := cl.PollFetches(rctx)
		if err := rctx.Err(); err != nil {
			t.Fatalf("consuming %s: %v (waiting for %v)", topic, err, want)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetching partition %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
			if !r.Attrs.IsControl() {
				out = append(out, string(r.Value))
			}
		})
	}
	slices.Sort(out)
	return out
}

func produceTxn(t *testing.T, cl *kgo.Client, topic, tag string, n int, end *kgo.TransactionEndTry) {
	t.Helper()
	ctx := context.Background()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		r := &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: fmt.Appendf(nil, "%s-%d", tag, i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("producing %s: %v", tag, err)
		}
	}
	if end != nil {
		if err := cl.EndTransaction(ctx, *end); err != nil {
			t.Fatalf("ending %s: %v", tag, err)
		}
	}
}

func values(tag string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s-%d", tag, i))
	}
	return out
}

// TestTransactionsReadCommitted: committed, aborted and unfinished
// transactions as read_committed and read_uncommitted consumers see them,
// before and after a restart, and a re-initialized producer aborting what
// its predecessor left open.
func TestTransactionsReadCommitted(t *testing.T) {
	tb := newTestBroker(t)
	rc := dialRaw(t, tb.addr)
	createTopicRaw(t, rc, "txn", 2)
	cl := newClient(t, tb.addr, kgo.TransactionalID("txn-test"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	commit, abort := kgo.TryCommit, kgo.TryAbort
	produceTxn(t, cl, "txn", "committed", 6, &commit)
	produceTxn(t, cl, "txn", "aborted", 4, &abort)
	produceTxn(t, cl, "txn", "open", 4, nil)
	// A plain producer's records are stable at once, but wait behind the
	// open transaction.
	plain := newClient(t, tb.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := plain.ProduceSync(context.Background(), &kgo.Record{Topic: "txn", Value: []byte("plain-0")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	all := slices.Sorted(slices.Values(slices.Concat(values("committed", 6), values("aborted", 4), values("open", 4), []string{"plain-0"})))
	committed := values("committed", 6)
	check := func(when string) {
		t.Helper()
		if got := consumeValues(t, tb.addr, "txn", true); !slices.Equal(got, committed) {
			t.Errorf("%s: read_committed got %v, want %v", when, got, committed)
		}
		if got := consumeValues(t, tb.addr, "txn", false); !slices.Equal(got, all) {
			t.Errorf("%s: read_uncommitted got %v, want %v", when, got, all)
		}
	}
	check("live")
	cl.Close()

	tb = tb.restart(t)
	check("after a restart")

	// A new producer with the same transactional id aborts the open
	// transaction; everything up to the end is then stable.
	cl2 := newClient(t, tb.addr, kgo.TransactionalID("txn-test"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceTxn(t, cl2, "txn", "second", 2, &commit)
	committed = slices.Sorted(slices.Values(slices.Concat(committed, []string{"plain-0"}, values("second", 2))))
	if got := consumeValues(t, tb.addr, "txn", true); !slices.Equal(got, committed) {
		t.Errorf("after re-initializing: read_committed got %v, want %v", got, committed)
	}
}

// TestTxnOffsetCommit: offsets committed in a transaction reach the group
// only when it commits, and are unstable while it is open (KIP-447).
func TestTxnOffsetCommit(t *testing.T) {
	tb := newTestBroker(t)
	rc := dialRaw(t, tb.addr)
	createTopicRaw(t, rc, "src", 1)
	createTopicRaw(t, rc, "dst", 1)

	id := "offsets-txn"
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID, init.TransactionTimeoutMillis = &id, 60000
	ir := rc.roundTrip(init).(*kmsg.InitProducerIDResponse)
	if ir.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(ir.ErrorCode))
	}
	pid, epoch := ir.ProducerID, ir.ProducerEpoch

	fetchOffset := func() (int64, int16) {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version, req.Group, req.RequireStable = 7, "g", true
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = "src", []int32{0}
		req.Topics = append(req.Topics, rt)
		resp := rc.roundTrip(req).(*kmsg.OffsetFetchResponse)
		p := resp.Topics[0].Partitions[0]
		return p.Offset, p.ErrorCode
	}
	commitIn := func(offset int64, commit bool) {
		t.Helper()
		ao := kmsg.NewPtrAddOffsetsToTxnRequest()
		ao.Version, ao.TransactionalID, ao.ProducerID, ao.ProducerEpoch, ao.Group = 3, id, pid, epoch, "g"
		if r := rc.roundTrip(ao).(*kmsg.AddOffsetsToTxnResponse); r.ErrorCode != 0 {
			t.Fatalf("AddOffsetsToTxn: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		oc := kmsg.NewPtrTxnOffsetCommitRequest()
		oc.Version, oc.TransactionalID, oc.Group, oc.ProducerID, oc.ProducerEpoch, oc.Generation = 3, id, "g", pid, epoch, -1
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = "src"
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 0, offset
		rt.Partitions = append(rt.Partitions, rp)
		oc.Topics = append(oc.Topics, rt)
		if r := rc.roundTrip(oc).(*kmsg.TxnOffsetCommitResponse); r.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("TxnOffsetCommit: %v", kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
		}
		if _, code := fetchOffset(); code != kerr.UnstableOffsetCommit.Code {
			t.Errorf("OffsetFetch(require_stable) during the transaction: %v, want UNSTABLE_OFFSET_COMMIT", kerr.ErrorForCode(code))
		}
		end := kmsg.NewPtrEndTxnRequest()
		end.Version, end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = 3, id, pid, epoch, commit
		if r := rc.roundTrip(end).(*kmsg.EndTxnResponse); r.ErrorCode != 0 {
			t.Fatalf("EndTxn: %v", kerr.ErrorForCode(r.ErrorCode))
		}
	}
	commitIn(5, false)
	if off, code := fetchOffset(); code != 0 || off != -1 {
		t.Errorf("after abort: offset %d (%v), want none", off, kerr.ErrorForCode(code))
	}
	commitIn(7, true)
	if off, code := fetchOffset(); code != 0 || off != 7 {
		t.Errorf("after commit: offset %d (%v), want 7", off, kerr.ErrorForCode(code))
	}

	// A bumped epoch fences the old producer.
	ir2 := rc.roundTrip(init).(*kmsg.InitProducerIDResponse)
	if ir2.ProducerID != pid || ir2.ProducerEpoch != epoch+1 {
		t.Fatalf("re-init: producer %d epoch %d, want %d epoch %d", ir2.ProducerID, ir2.ProducerEpoch, pid, epoch+1)
	}
	ao := kmsg.NewPtrAddOffsetsToTxnRequest()
	ao.Version, ao.TransactionalID, ao.ProducerID, ao.ProducerEpoch, ao.Group = 3, id, pid, epoch, "g"
	if r := rc.roundTrip(ao).(*kmsg.AddOffsetsToTxnResponse); r.ErrorCode != kerr.ProducerFenced.Code {
		t.Errorf("old epoch: %v, want PRODUCER_FENCED", kerr.ErrorForCode(r.ErrorCode))
	}
}

// TestTransactionTimeout: a transaction older than its timeout is aborted
// with a bumped epoch, freeing the last stable offset and fencing the
// producer.
func TestTransactionTimeout(t *testing.T) {
	tb := newTestBroker(t, func(c *Config) { c.TransactionCheckInterval = 20 * time.Millisecond })
	rc := dialRaw(t, tb.addr)
	createTopicRaw(t, rc, "slow", 2)
	cl := newClient(t, tb.addr, kgo.TransactionalID("slow"), kgo.TransactionTimeout(200*time.Millisecond), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceTxn(t, cl, "slow", "timed-out", 2, nil)
	p := tb.Store().Partition("slow", 0)
	if p.LastStableOffset() != 0 {
		t.Fatalf("LSO with an open transaction = %d, want 0", p.LastStableOffset())
	}
	testutil.WaitFor(t, 30*time.Second, func() error {
		if lso, hwm := p.LastStableOffset(), p.HighWatermark(); lso != hwm {
			return fmt.Errorf("LSO %d, high watermark %d", lso, hwm)
		}
		return nil
	})
	if got := consumeValues(t, tb.addr, "slow", true); len(got) != 0 {
		t.Errorf("read_committed after the timeout: %v, want nothing", got)
	}
	err := cl.EndTransaction(context.Background(), kgo.TryCommit)
	if err == nil {
		t.Fatal("commit after the coordinator aborted on timeout succeeded")
	}
}
