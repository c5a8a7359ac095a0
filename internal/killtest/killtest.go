// Package killtest checks the broker's durability promise the hard way: the
// broker runs with fsync before ack (log.flush.sync.on.ack=true), idempotent
// franz-go producers send with acks=all, and the broker process is killed
// with SIGKILL at a random moment. After a restart every acknowledged record
// must be readable at the offset it was acknowledged with, each producer's
// records must be in order, and no record may appear twice.
package killtest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerlab/brokerlab/internal/launch"
)

// Config describes a run. Zero values take the documented defaults.
type Config struct {
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

func (c *Config) setDefaults() {
	if c.Trials == 0 {
		c.Trials = 20
	}
	if c.Producers == 0 {
		c.Producers = 4
	}
	if c.Partitions == 0 {
		c.Partitions = 4
	}
	if c.MinRun == 0 {
		c.MinRun = 50 * time.Millisecond
	}
	if c.MaxRun == 0 {
		c.MaxRun = 750 * time.Millisecond
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Trial is the outcome of one kill and restart.
type Trial struct {
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
func (t Trial) OK() bool {
	return t.Lost == 0 && t.Duplicates == 0 && t.OutOfOrder == 0 && t.Corrupt == 0
}

// Report is the outcome of Run.
type Report struct {
	Seed   uint64  `json:"seed"`
	Trials []Trial `json:"trials"`
}

// Totals sums the trials.
func (r *Report) Totals() Trial {
	var t Trial
	for _, x := range r.Trials {
		t.Acked += x.Acked
		t.Lost += x.Lost
		t.Duplicates += x.Duplicates
		t.OutOfOrder += x.OutOfOrder
		t.Unacked += x.Unacked
		t.Corrupt += x.Corrupt
		t.Expired += x.Expired
	}
	return t
}

// Run runs the trials. It returns the trials done so far with any error; a
// trial that loses data is not an error of Run: check Trial.OK.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.setDefaults()
	if cfg.BrokerPath == "" || cfg.WorkDir == "" {
		return nil, errors.New("killtest: broker path and work dir are required")
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 2))
	rep := &Report{Seed: cfg.Seed}
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

func startBroker(ctx context.Context, cfg Config, label string) (*launch.Process, string, error) {
	addr, err := launch.FreeAddr()
	if err != nil {
		return nil, "", err
	}
	body := fmt.Sprintf("node.id=1\nlisteners=PLAINTEXT://%s\nlog.dirs=%s\nnum.partitions=%d\nlog.flush.sync.on.ack=true\n",
		addr, filepath.Join(cfg.WorkDir, "data"), cfg.Partitions)
	for _, l := range cfg.BrokerProps {
		body += l + "\n"
	}
	props := filepath.Join(cfg.WorkDir, "server.properties")
	if err := os.WriteFile(props, []byte(body), 0o644); err != nil {
		return nil, "", err
	}
	p, err := launch.Start(ctx, launch.Spec{
		Name: "broker", Path: cfg.BrokerPath, Args: []string{props}, Addr: addr,
		LogFile: filepath.Join(cfg.WorkDir, "broker-"+label+".log"), StartTimeout: 2 * time.Minute,
	})
	return p, addr, err
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

func trial(ctx context.Context, cfg Config, n int, run time.Duration) (Trial, error) {
	tr := Trial{Trial: n, KilledAfter: run}
	topic := fmt.Sprintf("kill-%d", n)
	p, addr, err := startBroker(ctx, cfg, fmt.Sprintf("%d-a", n))
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

	acks := NewAcks()
	var wg sync.WaitGroup
	pctx, stopProducing := context.WithCancel(ctx)
	for i := range cfg.Producers {
		cl, err := NewProducer(addr, topic)
		if err != nil {
			stopProducing()
			p.Kill()
			return tr, err
		}
		wg.Add(1)
		go func(producer int32, cl *kgo.Client) {
			defer wg.Done()
			defer cl.Close()
			Produce(pctx, cl, producer, producer%int32(cfg.Partitions), acks)
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

	p, addr, err = startBroker(ctx, cfg, fmt.Sprintf("%d-b", n))
	if err != nil {
		return tr, fmt.Errorf("restarting after the kill: %w", err)
	}
	defer p.Stop(time.Minute)
	v, err := Verify(ctx, addr, topic, acks, nil)
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
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, 0, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, 0, fmt.Errorf("listing end offsets: %w", err)
	}
	if err := ends.Error(); err != nil {
		return nil, 0, fmt.Errorf("listing end offsets: %w", err)
	}
	want := map[int32]int64{}
	parts := map[string]map[int32]kgo.Offset{topic: {}}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
			parts[topic][o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	var out []record
	corrupt := 0
	if len(want) == 0 {
		return out, corrupt, nil
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(parts))
	if err != nil {
		return nil, corrupt, err
	}
	defer cons.Close()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	next := map[int32]int64{}
	for len(want) > 0 {
		fs := cons.PollFetches(rctx)
		if err := rctx.Err(); err != nil {
			return out, corrupt, fmt.Errorf("reading back %s: %w (still waiting for %v)", topic, err, want)
		}
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
	}
	return out, corrupt, nil
}
