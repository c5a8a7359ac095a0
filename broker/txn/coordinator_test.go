package txn

import (
	"context"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerlab/brokerlab/broker/group"
	"github.com/brokerlab/brokerlab/broker/storage"
)

// parts is a coordinator over a real log and group coordinator.
type parts struct {
	dir    string
	store  *storage.Store
	groups *group.Coordinator
}

func openParts(t *testing.T, dir string) *parts {
	t.Helper()
	st, err := storage.Open(storage.Config{Dirs: []string{filepath.Join(dir, "log")}, NodeID: 1})
	if err != nil {
		t.Fatal(err)
	}
	g, err := group.New(group.Config{Dir: filepath.Join(dir, "offsets"), Partitions: func(topic string) (int32, bool) {
		ti, ok := st.Topic(topic)
		return ti.Partitions, ok
	}})
	if err != nil {
		t.Fatal(err)
	}
	return &parts{dir: dir, store: st, groups: g}
}

func (p *parts) close() {
	p.groups.Close()
	p.store.Close()
}

func (p *parts) coordinator(t *testing.T) *Coordinator {
	t.Helper()
	c, err := New(Config{
		Dir:           filepath.Join(p.dir, "txn"),
		NewProducerID: p.store.NextProducerID,
		PartitionExists: func(tp TopicPartition) bool {
			return p.store.Partition(tp.Topic, tp.Partition) != nil
		},
		WriteMarker: func(tp TopicPartition, pid int64, epoch int16, commit bool) error {
			return p.store.Partition(tp.Topic, tp.Partition).WriteTxnMarker(pid, epoch, commit, 0)
		},
		CommitOffsets: func(g string, offs []PendingOffset) error {
			out := make([]group.TxnOffset, len(offs))
			for i, o := range offs {
				out[i] = group.TxnOffset{Topic: o.Topic, Partition: o.Partition, Offset: o.Offset, LeaderEpoch: o.LeaderEpoch}
			}
			return p.groups.CommitTxnOffsets(g, out)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// txnBatch encodes a transactional batch of one record, as a producer does.
func txnBatch(pid int64, epoch int16, seq int32) []byte {
	r := kmsg.Record{Value: []byte("v")}
	r.Length = int32(len(r.AppendTo(nil)) - 1)
	b := kmsg.RecordBatch{Attributes: 0x10, PartitionLeaderEpoch: -1, Magic: 2, ProducerID: pid, ProducerEpoch: epoch,
		FirstSequence: seq, NumRecords: 1, Records: r.AppendTo(nil)}
	raw := b.AppendTo(nil)
	b.Length = int32(len(raw) - 12)
	b.CRC = int32(crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b.AppendTo(nil)
}

// TestRecoverCompletesPreparedCommit: a commit decided (PrepareCommit
// durable) whose markers could not be written is completed by the next
// coordinator's Recover: markers in the log, offsets in the group.
func TestRecoverCompletesPreparedCommit(t *testing.T) {
	dir := t.TempDir()
	p := openParts(t, dir)
	if err := p.store.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	c := p.coordinator(t)
	pid, epoch, e := c.InitProducerID("tx", time.Minute, -1, -1)
	if e != nil {
		t.Fatal(e)
	}
	tp := TopicPartition{"t", 0}
	if errs := c.AddPartitions("tx", pid, epoch, []TopicPartition{tp}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	part := p.store.Partition("t", 0)
	if _, err := part.Append(txnBatch(pid, epoch, 0), false); err != nil {
		t.Fatal(err)
	}
	if e := c.AddOffsets("tx", pid, epoch, "g"); e != nil {
		t.Fatal(e)
	}
	if e := c.CommitOffsets("tx", pid, epoch, "g", []PendingOffset{{Topic: "t", Partition: 0, Offset: 1, LeaderEpoch: -1}}); e != nil {
		t.Fatal(e)
	}
	if !c.PendingOffset("g", "t", 0) {
		t.Fatal("offset not pending during the transaction")
	}
	// The log goes away before the markers can be written: the decision
	// is durable, the completion is not.
	p.close()
	if e := c.EndTxn("tx", pid, epoch, true); e != nil {
		t.Fatalf("EndTxn after the decision: %v", e)
	}
	if e := c.AddPartitions("tx", pid, epoch, []TopicPartition{tp}); e[0] != kerr.ConcurrentTransactions {
		t.Fatalf("AddPartitions while completing: %v, want CONCURRENT_TRANSACTIONS", e[0])
	}
	c.Close()

	p = openParts(t, dir)
	defer p.close()
	c = p.coordinator(t)
	defer c.Close()
	part = p.store.Partition("t", 0)
	if lso := part.LastStableOffset(); lso != 0 {
		t.Fatalf("LSO before recovery = %d, want 0", lso)
	}
	if err := c.Recover(); err != nil {
		t.Fatal(err)
	}
	if lso, hwm := part.LastStableOffset(), part.HighWatermark(); lso != 2 || hwm != 2 {
		t.Fatalf("after recovery: LSO %d, high watermark %d; want 2, 2 (record and COMMIT marker)", lso, hwm)
	}
	sl, aborted, _, err := part.ReadCommitted(0, 1<<20, nil)
	if err != nil || len(aborted) != 0 || sl.Size == 0 {
		t.Fatalf("read_committed after recovery: %d bytes, aborted %v, %v", sl.Size, aborted, err)
	}
	sl.Release()
	if c.PendingOffset("g", "t", 0) {
		t.Error("offset still pending after the commit completed")
	}
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version, req.Group = 7, "g"
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = "t", []int32{0}
	req.Topics = append(req.Topics, rt)
	if off := p.groups.OffsetFetch(req).Topics[0].Partitions[0].Offset; off != 1 {
		t.Errorf("committed offset after recovery = %d, want 1", off)
	}
	if d, _ := c.Describe("tx"); d.State != "CompleteCommit" || d.ProducerID != pid || d.Epoch != epoch {
		t.Errorf("state after recovery: %+v", d)
	}
}

// TestLogTornTail: a torn last record is dropped at load, the records
// before it kept.
func TestLogTornTail(t *testing.T) {
	dir := t.TempDir()
	p := openParts(t, dir)
	defer p.close()
	c := p.coordinator(t)
	if _, _, e := c.InitProducerID("a", time.Minute, -1, -1); e != nil {
		t.Fatal(e)
	}
	if _, _, e := c.InitProducerID("b", time.Minute, -1, -1); e != nil {
		t.Fatal(e)
	}
	c.Close()
	path := filepath.Join(dir, "txn", logName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()-3); err != nil {
		t.Fatal(err)
	}
	c = p.coordinator(t)
	defer c.Close()
	if _, ok := c.Describe("a"); !ok {
		t.Error("record before the torn one lost")
	}
	if _, ok := c.Describe("b"); ok {
		t.Error("torn record loaded")
	}
	if _, _, e := c.InitProducerID("b", time.Minute, -1, -1); e != nil {
		t.Errorf("a new id after the cut: %v", e)
	}
	if _, _, e := c.InitProducerID("c", 2*DefaultMaxTimeout, -1, -1); !errors.Is(e, kerr.InvalidTransactionTimeout) {
		t.Errorf("timeout above transaction.max.timeout.ms: %v", e)
	}
}

// TestCloseStopsRun: Close ends a running Run and waits for it, and a Run
// that starts after Close returns at once instead of running unwaited. Run
// with -race this also checks that Run's registration is ordered with
// Close's wait.
func TestCloseStopsRun(t *testing.T) {
	p := openParts(t, t.TempDir())
	defer p.close()

	c := p.coordinator(t)
	ran := make(chan error, 1)
	go func() { ran <- c.Run(context.Background()) }()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-ran; err != nil {
		t.Fatalf("Run after Close: %v", err)
	}
	if err := c.Run(context.Background()); err != nil {
		t.Fatalf("Run on a closed coordinator: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
