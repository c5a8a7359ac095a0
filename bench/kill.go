package bench

import (
	"io"
	"strconv"

	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerlab/brokerlab/internal/launch"
)

// The kill experiment checks the broker's durability promise the hard way: the
// broker runs with fsync before ack (log.flush.sync.on.ack=true), idempotent
// franz-go producers send with acks=all, and the broker process is killed
// with SIGKILL at a random moment. After a restart every acknowledged record
// must be readable at the offset it was acknowledged with, each producer's
// records must be in order, and no record may appear twice.

// KillConfig describes a run, and is what a transactions kill run
// (KillTxnConfig) has of its own run too. Zero values take the documented
// defaults.
type KillConfig struct {
	BrokerPath string
	// WorkDir holds the broker's log dir, kept across trials so that every
	// restart recovers a longer log.
	WorkDir string
	// Trials is the number of kill/restart cycles (default 20).
	Trials int
	// Producers per trial (default 4), each on its own client (with its own
	// transactional id in a transactions run), writing to Partitions
	// partitions (default 4).
	Producers, Partitions int
	// The kill comes at a uniformly random moment between MinRun and
	// MaxRun after the producers start (defaults 50ms and 750ms; 100ms and
	// 1500ms in a transactions run).
	MinRun, MaxRun time.Duration
	// BrokerProps are extra server.properties lines.
	BrokerProps []string
	Seed        uint64
	Logger      *slog.Logger
}

func (c *KillConfig) setDefaults() {
	c.fill(50*time.Millisecond, 750*time.Millisecond)
}

// fill sets the defaults of a kill run whose kill comes between minRun
// and maxRun unless told otherwise.
func (c *KillConfig) fill(minRun, maxRun time.Duration) {
	orDefault(&c.Trials, 20)
	orDefault(&c.Producers, 4)
	orDefault(&c.Partitions, 4)
	orDefault(&c.MinRun, minRun)
	orDefault(&c.MaxRun, maxRun)
	seedAndLogger(&c.Seed, &c.Logger)
}

// check says what the run of the experiment name lacks to start.
func (c *KillConfig) check(name string) error {
	if c.BrokerPath == "" || c.WorkDir == "" {
		return fmt.Errorf("%s: broker path and work dir are required", name)
	}
	return nil
}

// broker is the broker of the trial labelled label: the run's binary on its
// work dir, with the run's partitions as num.partitions, props and the
// run's BrokerProps.
func (c *KillConfig) broker(label string, props ...string) launch.Broker {
	return launch.Broker{Path: c.BrokerPath, Dir: c.WorkDir, Label: label,
		Props:        slices.Concat([]string{"num.partitions=" + strconv.Itoa(c.Partitions)}, props, c.BrokerProps),
		StartTimeout: 2 * time.Minute}
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
	// Corrupt counts partitions whose fetch failed the client's batch
	// checks (CRC, length): recovery must never serve such a batch.
	Corrupt int64 `json:"corrupt_served"`
	// Expired acknowledged records are gone and old enough for retention
	// to have deleted them (Verify's expired): not a loss.
	Expired int64 `json:"expired,omitempty"`
}

// OK reports whether the trial kept the promise.
func (t KillTrial) OK() bool {
	return t.Lost == 0 && t.Duplicates == 0 && t.OutOfOrder == 0 && t.Corrupt == 0
}

// KillReport is the outcome of RunKill.
type KillReport struct {
	Seed   uint64      `json:"seed"`
	Trials []KillTrial `json:"trials"`
}

// Add adds x's counts to t's (its trial number and kill moment stay).
func (t *KillTrial) Add(x KillTrial) {
	t.Acked += x.Acked
	t.Lost += x.Lost
	t.Duplicates += x.Duplicates
	t.OutOfOrder += x.OutOfOrder
	t.Unacked += x.Unacked
	t.Corrupt += x.Corrupt
	t.Expired += x.Expired
}

// Totals sums the trials.
func (r *KillReport) Totals() KillTrial {
	var t KillTrial
	for _, x := range r.Trials {
		t.Add(x)
	}
	return t
}

// RunKill runs the trials. It returns the trials done so far with any error; a
// trial that loses data is not an error of Run: check KillTrial.OK.
func RunKill(ctx context.Context, cfg KillConfig) (*KillReport, error) {
	cfg.setDefaults()
	if err := cfg.check("kill test"); err != nil {
		return nil, err
	}
	rep := &KillReport{Seed: cfg.Seed}
	var err error
	rep.Trials, err = killTrials(&cfg, 2, func(i int, run time.Duration, _ *rand.Rand) (KillTrial, error) {
		return trial(ctx, cfg, i, run)
	}, func(tr KillTrial) []any {
		return []any{"acked", tr.Acked, "lost", tr.Lost, "duplicates", tr.Duplicates, "out_of_order", tr.OutOfOrder}
	})
	return rep, err
}

// killTrials runs c.Trials trials of a kill test, each killing the broker
// at a uniformly random moment in [c.MinRun, c.MaxRun]. The moments come
// from one generator seeded with c.Seed on stream, drawn before each trial
// starts; trial may draw from it too. Each trial run is logged with what
// attrs says of its outcome; the first trial that fails to run ends the
// test.
func killTrials[T any](c *KillConfig, stream uint64, trial func(i int, run time.Duration, rng *rand.Rand) (T, error), attrs func(T) []any) ([]T, error) {
	rng := rand.New(rand.NewPCG(c.Seed, stream))
	var out []T
	for i := range c.Trials {
		run := c.MinRun + time.Duration(rng.Int64N(int64(c.MaxRun-c.MinRun)+1))
		tr, err := trial(i, run, rng)
		if err != nil {
			return out, fmt.Errorf("trial %d: %w", i+1, err)
		}
		c.Logger.Info("trial", append([]any{"n", i + 1, "of", c.Trials, "killed_after", run}, attrs(tr)...)...)
		out = append(out, tr)
	}
	return out, nil
}

// killMidLoad starts the broker b (labelled "<b.Label>-a"), creates topic,
// starts the load, SIGKILLs the broker after run (or when ctx ends), halts
// the load, and restarts the broker ("<b.Label>-b") on the same log dir. load
// starts the clients against addr; halt, called once the broker is dead,
// stops them and waits for them. A load that fails to start releases what
// it took before returning. The caller stops the restarted broker.
func killMidLoad(ctx context.Context, b launch.Broker, topic string, partitions int, run time.Duration,
	load func(addr string) (halt func(), err error)) (*launch.Process, error) {
	label := b.Label
	b.Label = label + "-a"
	p, err := launch.StartBroker(ctx, b)
	if err != nil {
		return nil, err
	}
	if err := createTopic(ctx, p.Addr(), topic, partitions, nil); err != nil {
		p.Kill()
		return nil, fmt.Errorf("creating %s: %w", topic, err)
	}
	halt, err := load(p.Addr())
	if err != nil {
		p.Kill()
		return nil, err
	}
	select {
	case <-time.After(run):
	case <-ctx.Done():
	}
	p.Kill()
	halt()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.Label = label + "-b"
	p, err = launch.StartBroker(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("restarting after the kill: %w", err)
	}
	return p, nil
}

// ack is one acknowledged record.
type ack struct {
	partition int32
	offset    int64
}

// key identifies a record: producer and sequence number, carried in its value.
type key struct {
	producer int32
	seq      int64
}

func encode(producer int32, seq int64) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint32(b, uint32(producer))
	binary.BigEndian.PutUint64(b[4:], uint64(seq))
	return b
}

func decode(b []byte) (key, bool) {
	if len(b) != 12 {
		return key{}, false
	}
	return key{int32(binary.BigEndian.Uint32(b)), int64(binary.BigEndian.Uint64(b[4:]))}, true
}

func trial(ctx context.Context, cfg KillConfig, n int, run time.Duration) (KillTrial, error) {
	tr := KillTrial{Trial: n, KilledAfter: run}
	topic := fmt.Sprintf("kill-%d", n)
	acks := NewAcks()
	p, err := killMidLoad(ctx, cfg.broker(strconv.Itoa(n), "log.flush.sync.on.ack=true"), topic, cfg.Partitions, run,
		func(addr string) (func(), error) {
			var wg sync.WaitGroup
			pctx, stopProducing := context.WithCancel(ctx)
			halt := func() {
				stopProducing()
				wg.Wait()
			}
			for i := range cfg.Producers {
				cl, err := NewProducer(addr, topic)
				if err != nil {
					stopProducing()
					return nil, err
				}
				wg.Add(1)
				go func(producer int32, cl *kgo.Client) {
					defer wg.Done()
					defer cl.Close()
					Produce(pctx, cl, producer, producer%int32(cfg.Partitions), acks)
				}(int32(i), cl)
			}
			return halt, nil
		})
	if err != nil {
		return tr, err
	}
	defer p.Stop(time.Minute)
	v, err := Verify(ctx, p.Addr(), topic, acks, nil)
	if err != nil {
		return tr, err
	}
	v.Trial, v.KilledAfter = tr.Trial, tr.KilledAfter
	return v, p.Stop(time.Minute)
}

type record struct {
	key
	partition int32
	offset    int64
}

// readAll reads every partition of topic from the start to its end offset,
// in log order (partition by partition), and counts the partitions whose
// fetch failed the client's batch checks (served corrupt).
func readAll(ctx context.Context, addr, topic string) ([]record, int, error) {
	var out []record
	corrupt := 0
	next := map[int32]int64{}
	err := consumeTo(ctx, addr, topic, listEndOffsets, nil, func(fs kgo.Fetches, want map[int32]int64) error {
		// A batch that fails the client's checks (CRC, length) was served
		// corrupt: count it and stop reading that partition.
		fs.EachError(func(_ string, p int32, err error) {
			if _, ok := want[p]; ok {
				corrupt++
				delete(want, p)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			k, ok := decode(r.Value)
			if !ok {
				return
			}
			out = append(out, record{k, r.Partition, r.Offset})
			next[r.Partition] = r.Offset + 1
			if next[r.Partition] >= want[r.Partition] {
				delete(want, r.Partition)
			}
		})
		return nil
	})
	return out, corrupt, err
}

// listEndOffsets is what readAll reads up to: each partition's end offset.
func listEndOffsets(ctx context.Context, cl *kgo.Client, topic string) (kadm.ListedOffsets, error) {
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	return listed(ends, err, "end offsets")
}

// listed is a kadm listing of what with its error, or its first
// partition's error when the request itself worked.
func listed(offsets kadm.ListedOffsets, err error, what string) (kadm.ListedOffsets, error) {
	if err == nil {
		err = offsets.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", what, err)
	}
	return offsets, nil
}

// consumeTo reads topic from the broker at addr: every partition that
// list gives an offset above zero (asked through the client it is given), from its start until that offset, on a
// consumer with opts added to its own. poll gets each fetch and the
// offsets still wanted, and deletes a partition from want once it is read
// (or given up); an error from poll ends the read. The read fails when it
// has not ended within two minutes.
func consumeTo(ctx context.Context, addr, topic string,
	list func(context.Context, *kgo.Client, string) (kadm.ListedOffsets, error), opts []kgo.Opt,
	poll func(fs kgo.Fetches, want map[int32]int64) error) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	ends, err := list(ctx, cl, topic)
	if err != nil {
		return err
	}
	want := map[int32]int64{}
	parts := map[string]map[int32]kgo.Offset{topic: {}}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
			parts[topic][o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(want) == 0 {
		return nil
	}
	cons, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumePartitions(parts)}, opts...)...)
	if err != nil {
		return err
	}
	defer cons.Close()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for len(want) > 0 {
		fs := cons.PollFetches(rctx)
		if err := rctx.Err(); err != nil {
			return fmt.Errorf("reading back %s: %w (still waiting for %v)", topic, err, want)
		}
		if err := poll(fs, want); err != nil {
			return err
		}
	}
	return nil
}

// Save writes dir/kill.json and prints the totals to stdout. It returns an
// error when a trial lost, duplicated, reordered or served corrupt an
// acknowledged record.
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
