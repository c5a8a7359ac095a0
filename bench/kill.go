package bench

// The kill experiment checks the broker's durability promise the hard way: the
// broker runs with fsync before ack (log.flush.sync.on.ack=true), idempotent
// franz-go producers send with acks=all, and the broker process is killed
// with SIGKILL at a random moment. After a restart every acknowledged record
// must be readable at the offset it was acknowledged with, each producer's
// records must be in order, and no record may appear twice.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerlab/brokerlab/internal/launch"
)

// KillConfig describes a run. Zero values take the documented defaults.
type KillConfig struct {
	BrokerPath string
	// WorkDir holds the broker's log dir, kept across trials so that every
	// restart recovers a longer log.
	WorkDir string
	// Trials is the number of kill/restart cycles (default 20).
	Trials int
	// Producers per trial (default 4), each on its own client, writing to
	// Partitions partitions (default 4).
	Producers, Partitions int
	// The kill comes at a uniformly random moment between MinRun and
	// MaxRun after the producers start (defaults 50ms and 750ms).
	MinRun, MaxRun time.Duration
	// BrokerProps are extra server.properties lines.
	BrokerProps []string
	Seed        uint64
	Logger      *slog.Logger
}

func (c *KillConfig) setDefaults() {
	orDefault(&c.Trials, 20)
	orDefault(&c.Producers, 4)
	orDefault(&c.Partitions, 4)
	orDefault(&c.MinRun, 50*time.Millisecond)
	orDefault(&c.MaxRun, 750*time.Millisecond)
	seedAndLogger(&c.Seed, &c.Logger)
}

// KillTrial is the outcome of one kill and restart.
type KillTrial struct {
	Trial       int           `json:"trial"`
	KilledAfter time.Duration `json:"killed_after_ns"`
	// Acked records were acknowledged to a producer before the kill.
	Acked int64 `json:"acked"`
	// Lost acknowledged records are missing, or at another offset, after the restart.
	Lost int64 `json:"lost"`
	// Duplicates are records found more than once in the log.
	Duplicates int64 `json:"duplicates"`
	// OutOfOrder counts records of one producer behind a later one of its own.
	OutOfOrder int64 `json:"out_of_order"`
	// Unacked records were found in the log although their ack never came
	// (written, then the kill took the response): allowed.
	Unacked int64 `json:"unacked_present"`
}

// OK reports whether the trial kept the promise.
func (t KillTrial) OK() bool { return t.Lost == 0 && t.Duplicates == 0 && t.OutOfOrder == 0 }

// KillReport is the outcome of RunKill.
type KillReport struct {
	Seed   uint64      `json:"seed"`
	Trials []KillTrial `json:"trials"`
}

// Totals sums the trials.
func (r *KillReport) Totals() KillTrial {
	var t KillTrial
	for _, x := range r.Trials {
		t.Acked += x.Acked
		t.Lost += x.Lost
		t.Duplicates += x.Duplicates
		t.OutOfOrder += x.OutOfOrder
		t.Unacked += x.Unacked
	}
	return t
}

// RunKill runs the trials. It returns the trials done so far with any error; a
// trial that loses data is not an error of Run: check KillTrial.OK.
func RunKill(ctx context.Context, cfg KillConfig) (*KillReport, error) {
	cfg.setDefaults()
	if cfg.BrokerPath == "" || cfg.WorkDir == "" {
		return nil, errors.New("kill test: broker path and work dir are required")
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 2))
	rep := &KillReport{Seed: cfg.Seed}
	for i := 0; i < cfg.Trials; i++ {
		run := cfg.MinRun + time.Duration(rng.Int64N(int64(cfg.MaxRun-cfg.MinRun)+1))
		tr, err := trial(ctx, cfg, i, run)
		if err != nil {
			return rep, fmt.Errorf("trial %d: %w", i+1, err)
		}
		cfg.Logger.Info("trial", "n", i+1, "of", cfg.Trials, "killed_after", run, "acked", tr.Acked, "lost", tr.Lost,
			"duplicates", tr.Duplicates, "out_of_order", tr.OutOfOrder)
		rep.Trials = append(rep.Trials, tr)
	}
	return rep, nil
}

func startKillBroker(ctx context.Context, cfg KillConfig, label string) (*launch.Process, string, error) {
	p, err := launch.StartBroker(ctx, launch.Broker{Path: cfg.BrokerPath, Dir: cfg.WorkDir, Label: label,
		Props:        append([]string{"num.partitions=" + strconv.Itoa(cfg.Partitions), "log.flush.sync.on.ack=true"}, cfg.BrokerProps...),
		StartTimeout: 2 * time.Minute})
	if err != nil {
		return nil, "", err
	}
	return p, p.Addr(), nil
}

// RecordKey identifies a record: its producer and sequence number, carried
// in the record's value (EncodeRecordKey), so a record read back is known
// whatever offset it landed at.
type RecordKey struct {
	Producer int32
	Seq      int64
}

// RecordAt is where a record was acknowledged, or found.
type RecordAt struct {
	Partition int32
	Offset    int64
}

// EncodeRecordKey is the value of the record k: 4 bytes of producer, 8 of
// sequence, big-endian.
func EncodeRecordKey(k RecordKey) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint32(b, uint32(k.Producer))
	binary.BigEndian.PutUint64(b[4:], uint64(k.Seq))
	return b
}

func decodeRecordKey(b []byte) (RecordKey, bool) {
	if len(b) != 12 {
		return RecordKey{}, false
	}
	return RecordKey{int32(binary.BigEndian.Uint32(b)), int64(binary.BigEndian.Uint64(b[4:]))}, true
}

// FoundRecord is a record read back from the log.
type FoundRecord struct {
	RecordKey
	RecordAt
}

// AckCheck is what CheckAcked found.
type AckCheck struct {
	// Acked records were acknowledged to a producer.
	Acked int64
	// Lost acknowledged records are missing, or at another offset.
	Lost int64
	// Duplicates are records found more than once.
	Duplicates int64
	// OutOfOrder counts records of one producer behind a later one of its own.
	OutOfOrder int64
	// Unacked records are present although their ack never came: allowed.
	Unacked int64
}

// CheckAcked compares the acknowledged records with what was read back
// (ReadBack, in log order): every acknowledged record must be at its
// acknowledged position, once, and each producer's records in order.
func CheckAcked(acked map[RecordKey]RecordAt, found []FoundRecord) AckCheck {
	c := AckCheck{Acked: int64(len(acked))}
	seen := map[RecordKey]int{}
	last := map[int32]int64{}
	for _, f := range found {
		seen[f.RecordKey]++
		if seen[f.RecordKey] == 2 {
			c.Duplicates++
		}
		if prev, ok := last[f.Producer]; ok && f.Seq <= prev {
			c.OutOfOrder++
		}
		last[f.Producer] = f.Seq
		if _, ok := acked[f.RecordKey]; !ok && seen[f.RecordKey] == 1 {
			c.Unacked++
		}
	}
	at := map[RecordAt]RecordKey{}
	for _, f := range found {
		at[f.RecordAt] = f.RecordKey
	}
	for k, a := range acked {
		if got, ok := at[a]; !ok || got != k {
			c.Lost++
		}
	}
	return c
}

func trial(ctx context.Context, cfg KillConfig, n int, run time.Duration) (KillTrial, error) {
	tr := KillTrial{Trial: n, KilledAfter: run}
	topic := fmt.Sprintf("kill-%d", n)
	p, addr, err := startKillBroker(ctx, cfg, fmt.Sprintf("%d-a", n))
	if err != nil {
		return tr, err
	}
	admin, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		p.Kill()
		return tr, err
	}
	if _, err := kadm.NewClient(admin).CreateTopic(ctx, int32(cfg.Partitions), 1, nil, topic); err != nil {
		admin.Close()
		p.Kill()
		return tr, fmt.Errorf("creating %s: %w", topic, err)
	}
	admin.Close()

	var (
		mu    sync.Mutex
		acked = map[RecordKey]RecordAt{}
		wg    sync.WaitGroup
	)
	pctx, stopProducing := context.WithCancel(ctx)
	for i := range cfg.Producers {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.MaxBufferedRecords(1000), kgo.RecordDeliveryTimeout(5*time.Second))
		if err != nil {
			stopProducing()
			p.Kill()
			return tr, err
		}
		wg.Add(1)
		go func(producer int32, cl *kgo.Client) {
			defer wg.Done()
			defer cl.Close()
			part := producer % int32(cfg.Partitions)
			for seq := int64(0); pctx.Err() == nil; seq++ {
				k := RecordKey{producer, seq}
				r := &kgo.Record{Partition: part, Value: EncodeRecordKey(k)}
				cl.Produce(pctx, r, func(r *kgo.Record, err error) {
					if err == nil {
						mu.Lock()
						acked[k] = RecordAt{r.Partition, r.Offset}
						mu.Unlock()
					}
				})
			}
			// Records still buffered or in flight when the broker died
			// fail when the deferred Close runs: they were never acked.
		}(int32(i), cl)
	}
	select {
	case <-time.After(run):
	case <-ctx.Done():
	}
	p.Kill()
	stopProducing()
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return tr, err
	}

	p, addr, err = startKillBroker(ctx, cfg, fmt.Sprintf("%d-b", n))
	if err != nil {
		return tr, fmt.Errorf("restarting after the kill: %w", err)
	}
	defer p.Stop(time.Minute)
	found, err := ReadBack(ctx, addr, topic)
	if err != nil {
		return tr, err
	}
	mu.Lock()
	c := CheckAcked(acked, found)
	mu.Unlock()
	tr.Acked, tr.Lost, tr.Duplicates, tr.OutOfOrder, tr.Unacked = c.Acked, c.Lost, c.Duplicates, c.OutOfOrder, c.Unacked
	return tr, p.Stop(time.Minute)
}

// ReadBack reads every partition of topic from the start to its end offset,
// in log order (partition by partition), keeping the records whose value is
// an EncodeRecordKey.
func ReadBack(ctx context.Context, addr, topic string) ([]FoundRecord, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("listing end offsets: %w", err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("listing end offsets: %w", err)
	}
	want := map[int32]int64{}
	parts := map[string]map[int32]kgo.Offset{topic: {}}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
			parts[topic][o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	var out []FoundRecord
	if len(want) == 0 {
		return out, nil
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(parts))
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	next := map[int32]int64{}
	for len(want) > 0 {
		fs := cons.PollFetches(rctx)
		if err := rctx.Err(); err != nil {
			return out, fmt.Errorf("reading back %s: %w (still waiting for %v)", topic, err, want)
		}
		var ferr error
		fs.EachError(func(_ string, p int32, err error) { ferr = fmt.Errorf("fetching partition %d: %w", p, err) })
		if ferr != nil {
			return out, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			k, ok := decodeRecordKey(r.Value)
			if !ok {
				return
			}
			out = append(out, FoundRecord{k, RecordAt{r.Partition, r.Offset}})
			next[r.Partition] = r.Offset + 1
			if next[r.Partition] >= want[r.Partition] {
				delete(want, r.Partition)
			}
		})
	}
	return out, nil
}

// Save writes dir/kill.json and prints the totals to stdout. It returns an
// error when a trial lost, duplicated or reordered an acknowledged record.
func (r *KillReport) Save(dir string, stdout io.Writer) error {
	if err := SaveRun(dir, "kill.json", "", r); err != nil {
		return err
	}
	t := r.Totals()
	fmt.Fprintf(stdout, "%d trials: %d acknowledged records, %d lost, %d duplicates, %d out of order (%d unacknowledged but present)\n",
		len(r.Trials), t.Acked, t.Lost, t.Duplicates, t.OutOfOrder, t.Unacked)
	if !t.OK() {
		return errors.New("the broker lost, duplicated or reordered acknowledged records")
	}
	return nil
}
