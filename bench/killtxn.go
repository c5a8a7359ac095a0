package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The transactions kill experiment checks exactly-once across a crash:
// transactional franz-go producers run a stream of transactions (each a few
// records over several partitions, some aborted on purpose), the broker is
// SIGKILLed at a random moment, restarted, each transactional id is
// re-initialized (which aborts what was left open, as a restarted producer
// would), and a read_committed consumer reads every partition up to its
// last stable offset. Every transaction whose commit was acknowledged must
// be there exactly once, whole; nothing of an aborted or never-committed
// one; a transaction whose commit was in flight at the kill must be there
// whole or not at all.

// KillTxnConfig describes a run: the kill run's settings (the kill
// between 100ms and 1500ms by default) and the transactions'. Zero values
// take the documented defaults.
type KillTxnConfig struct {
	KillConfig
	// MaxRecords is the most records per transaction (default 20).
	MaxRecords int
	// AbortEvery: one transaction in AbortEvery is aborted (default 4).
	AbortEvery int
}

func (c *KillTxnConfig) setDefaults() {
	c.fill(100*time.Millisecond, 1500*time.Millisecond)
	orDefault(&c.MaxRecords, 20)
	orDefault(&c.AbortEvery, 4)
}

// KillTxnTrial is the outcome of one kill and restart.
type KillTxnTrial struct {
	Trial       int           `json:"trial"`
	KilledAfter time.Duration `json:"killed_after_ns"`
	// Committed transactions had their commit acknowledged before the kill;
	// Aborted ones were aborted on purpose; InDoubt ones had a commit in
	// flight at the kill; Open ones never asked to commit.
	Committed int `json:"committed"`
	Aborted   int `json:"aborted"`
	InDoubt   int `json:"in_doubt"`
	Open      int `json:"open"`
	// Records read by the read_committed consumer.
	Records int `json:"records_read"`
	// MissingCommitted counts acknowledged commits not read whole.
	MissingCommitted int `json:"missing_committed"`
	// VisibleUncommitted counts aborted or open transactions with a record read.
	VisibleUncommitted int `json:"visible_uncommitted"`
	// Partial counts in-doubt transactions read in part.
	Partial int `json:"partial"`
	// Duplicates are records read more than once.
	Duplicates int `json:"duplicates"`
}

// OK reports whether the trial kept the promise.
func (t KillTxnTrial) OK() bool {
	return t.MissingCommitted == 0 && t.VisibleUncommitted == 0 && t.Partial == 0 && t.Duplicates == 0
}

// KillTxnReport is the outcome of RunKillTxn.
type KillTxnReport struct {
	Seed   uint64         `json:"seed"`
	Trials []KillTxnTrial `json:"trials"`
}

// Totals sums the trials.
func (r *KillTxnReport) Totals() KillTxnTrial {
	var t KillTxnTrial
	for _, x := range r.Trials {
		t.Committed += x.Committed
		t.Aborted += x.Aborted
		t.InDoubt += x.InDoubt
		t.Open += x.Open
		t.Records += x.Records
		t.MissingCommitted += x.MissingCommitted
		t.VisibleUncommitted += x.VisibleUncommitted
		t.Partial += x.Partial
		t.Duplicates += x.Duplicates
	}
	return t
}

// Save writes dir/kill-txn.json and prints the totals. It returns an error
// when a trial broke exactly-once.
func (r *KillTxnReport) Save(dir string, stdout io.Writer) error {
	if err := SaveRun(dir, "kill-txn.json", "", r); err != nil {
		return err
	}
	t := r.Totals()
	fmt.Fprintf(stdout, "%d trials: %d committed transactions (%d records read), %d aborted, %d in doubt, %d open; %d committed missing, %d uncommitted visible, %d partial, %d duplicate records\n",
		len(r.Trials), t.Committed, t.Records, t.Aborted, t.InDoubt, t.Open, t.MissingCommitted, t.VisibleUncommitted, t.Partial, t.Duplicates)
	if !t.OK() {
		return errors.New("a read_committed consumer saw a transaction other than exactly once")
	}
	return nil
}

// RunKillTxn runs the trials. A trial that breaks exactly-once is not an
// error of the run: check KillTxnTrial.OK.
func RunKillTxn(ctx context.Context, cfg KillTxnConfig) (*KillTxnReport, error) {
	cfg.setDefaults()
	if err := cfg.check("transactions kill test"); err != nil {
		return nil, err
	}
	rep := &KillTxnReport{Seed: cfg.Seed}
	var err error
	rep.Trials, err = killTrials(&cfg.KillConfig, 3, func(i int, run time.Duration, rng *rand.Rand) (KillTxnTrial, error) {
		return txnTrial(ctx, cfg, i, run, rng.Uint64())
	}, func(tr KillTxnTrial) []any {
		return []any{"committed", tr.Committed, "aborted", tr.Aborted, "in_doubt", tr.InDoubt, "open", tr.Open, "records", tr.Records, "ok", tr.OK()}
	})
	return rep, err
}

// Transaction outcomes as the producer saw them.
const (
	txnOpen = iota
	txnInDoubt
	txnCommitted
	txnAborted
)

// txnKey names a transaction: producer and its sequence number.
type txnKey struct {
	producer int32
	txn      int64
}

// txnLedger is what the producers saw, shared by them.
type txnLedger struct {
	mu     sync.Mutex
	frozen bool // set at the kill: what the producers saw before it
	state  map[txnKey]int
	size   map[txnKey]int // records produced in the transaction
}

func (l *txnLedger) set(k txnKey, state, size int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.frozen {
		l.state[k], l.size[k] = state, size
	}
}

func (l *txnLedger) freeze() {
	l.mu.Lock()
	l.frozen = true
	l.mu.Unlock()
}

// txnValue is a record's value: producer, transaction, record index.
func txnValue(k txnKey, i int) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint32(b, uint32(k.producer))
	binary.BigEndian.PutUint64(b[4:], uint64(k.txn))
	binary.BigEndian.PutUint32(b[12:], uint32(i))
	return b
}

func txnTrial(ctx context.Context, cfg KillTxnConfig, n int, run time.Duration, seed uint64) (KillTxnTrial, error) {
	tr := KillTxnTrial{Trial: n, KilledAfter: run}
	topic := fmt.Sprintf("kill-txn-%d", n)
	ledger := &txnLedger{state: map[txnKey]int{}, size: map[txnKey]int{}}
	ids := make([]string, cfg.Producers)
	p, err := killMidLoad(ctx, cfg.broker(fmt.Sprintf("txn-%d", n)), topic, cfg.Partitions, run,
		func(addr string) (func(), error) {
			clients := make([]*kgo.Client, cfg.Producers)
			// After the kill the producers dial nothing: the restarted broker may
			// get the same port, and they must not reach it.
			var killed atomic.Bool
			dial := func(ctx context.Context, network, host string) (net.Conn, error) {
				if killed.Load() {
					return nil, errors.New("the broker was killed")
				}
				var d net.Dialer
				return d.DialContext(ctx, network, host)
			}
			var wg sync.WaitGroup
			pctx, stop := context.WithCancel(ctx)
			for i := range cfg.Producers {
				ids[i] = fmt.Sprintf("%s-p%d", topic, i)
				cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID(ids[i]), kgo.DefaultProduceTopic(topic), kgo.Dialer(dial),
					kgo.TransactionTimeout(10*time.Second), kgo.RecordPartitioner(kgo.ManualPartitioner()),
					kgo.RequestRetries(3), kgo.RetryTimeout(5*time.Second))
				if err != nil {
					stop()
					for _, c := range clients[:i] {
						c.Close()
					}
					return nil, err
				}
				clients[i] = cl
				wg.Add(1)
				go func(producer int32, cl *kgo.Client, rng *rand.Rand) {
					defer wg.Done()
					produceTxns(pctx, cl, producer, cfg, rng, ledger)
				}(int32(i), cl, rand.New(rand.NewPCG(seed, uint64(i))))
			}
			return func() {
				killed.Store(true)
				ledger.freeze()
				stop()
				// Closing fails what the producers still wait for (an idempotent
				// producer never gives up on a batch that may have been written).
				for _, cl := range clients {
					go cl.Close()
				}
				wg.Wait()
			}, nil
		})
	if err != nil {
		return tr, err
	}
	defer p.Stop(time.Minute)
	got, err := readCommittedTxns(ctx, p.Addr(), topic, ids)
	if err != nil {
		return tr, err
	}
	judgeTxns(&tr, ledger, got)
	return tr, p.Stop(time.Minute)
}

// produceTxns runs transactions until ctx ends or the client fails.
func produceTxns(ctx context.Context, cl *kgo.Client, producer int32, cfg KillTxnConfig, rng *rand.Rand, l *txnLedger) {
	for seq := int64(0); ctx.Err() == nil; seq++ {
		k := txnKey{producer, seq}
		if err := cl.BeginTransaction(); err != nil {
			return
		}
		n := 1 + rng.IntN(cfg.MaxRecords)
		l.set(k, txnOpen, n)
		var failed bool
		for i := range n {
			r := &kgo.Record{Value: txnValue(k, i), Partition: int32(rng.IntN(cfg.Partitions))}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				failed = true
				break
			}
		}
		abort := failed || rng.IntN(cfg.AbortEvery) == 0
		if abort {
			if err := cl.EndTransaction(context.WithoutCancel(ctx), kgo.TryAbort); err == nil {
				l.set(k, txnAborted, n)
			}
			if failed {
				return
			}
			continue
		}
		l.set(k, txnInDoubt, n)
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return
		}
		l.set(k, txnCommitted, n)
	}
}

// readCommittedTxns re-initializes every transactional id (aborting what
// the kill left open, as a restarted producer does), then reads every
// partition with read_committed up to its last stable offset and counts
// each record.
func readCommittedTxns(ctx context.Context, addr, topic string, ids []string) (map[txnKey]map[int]int, error) {
	reinitAndList := func(ctx context.Context, cl *kgo.Client, topic string) (kadm.ListedOffsets, error) {
		for _, id := range ids {
			req := kmsg.NewPtrInitProducerIDRequest()
			req.TransactionalID, req.TransactionTimeoutMillis = &id, 10000
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return nil, fmt.Errorf("re-initializing %s: %w", id, err)
			}
			if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
				return nil, fmt.Errorf("re-initializing %s: %w", id, err)
			}
		}
		ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
		return listed(ends, err, "last stable offsets")
	}
	got := map[txnKey]map[int]int{}
	err := consumeTo(ctx, addr, topic, reinitAndList, []kgo.Opt{kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords()},
		func(fs kgo.Fetches, want map[int32]int64) error {
			var ferr error
			fs.EachError(func(_ string, p int32, err error) { ferr = fmt.Errorf("fetching partition %d: %w", p, err) })
			if ferr != nil {
				return ferr
			}
			fs.EachRecord(func(r *kgo.Record) {
				if r.Offset+1 >= want[r.Partition] {
					delete(want, r.Partition)
				}
				if r.Attrs.IsControl() || len(r.Value) != 16 {
					return
				}
				k := txnKey{int32(binary.BigEndian.Uint32(r.Value)), int64(binary.BigEndian.Uint64(r.Value[4:]))}
				if got[k] == nil {
					got[k] = map[int]int{}
				}
				got[k][int(binary.BigEndian.Uint32(r.Value[12:]))]++
			})
			return nil
		})
	if err != nil {
		return nil, err
	}
	return got, nil
}

// judgeTxns compares what was read with what the producers saw.
func judgeTxns(tr *KillTxnTrial, l *txnLedger, got map[txnKey]map[int]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, recs := range got {
		for _, c := range recs {
			tr.Records += c
			tr.Duplicates += c - 1
		}
	}
	for k, st := range l.state {
		recs, size := got[k], l.size[k]
		switch st {
		case txnCommitted:
			tr.Committed++
			if len(recs) != size {
				tr.MissingCommitted++
			}
		case txnInDoubt:
			tr.InDoubt++
			if len(recs) != 0 && len(recs) != size {
				tr.Partial++
			}
		case txnAborted:
			tr.Aborted++
			if len(recs) != 0 {
				tr.VisibleUncommitted++
			}
		default:
			tr.Open++
			if len(recs) != 0 {
				tr.VisibleUncommitted++
			}
		}
	}
	for k := range got {
		if _, ok := l.state[k]; !ok {
			tr.VisibleUncommitted++ // read but never produced: cannot happen
		}
	}
}
