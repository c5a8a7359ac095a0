package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerlab/brokerlab/internal/launch"
	"github.com/brokerlab/brokerlab/internal/rdkperf"
	"github.com/brokerlab/brokerlab/loadgen"
	"github.com/brokerlab/brokerlab/tuning/stats"
)

// The rdkafka experiment compares the load generator's maximum produce
// throughput (unpaced, loadgen.Options.Unpaced) with librdkafka's
// rdkafka_performance against the same target, topic shape, message size
// and client settings (acks=1, linger 5 ms, 1 MiB batches, no compression,
// no idempotence), interleaved in pairs in a seeded random order. The
// project's target is lab/rdkafka >= 0.9 (RdkafkaTarget).

// RdkafkaTarget is the least ratio of the load generator's median rate to
// rdkafka_performance's that counts as keeping up with a C client.
const RdkafkaTarget = 0.9

// RdkafkaConfig describes the comparison. Zero values take the defaults.
type RdkafkaConfig struct {
	// RdkPerfPath is rdkafka_performance (required).
	RdkPerfPath string
	// Brokers is the target; when empty KfakePath (bin/kfake) is started
	// on a free port with its log under WorkDir.
	Brokers, KfakePath, WorkDir string
	// Pairs (default 5) of Seconds each (default 5), Size-byte messages
	// (default 1024).
	Pairs, Seconds, Size int
	Seed                 uint64
	Logger               *slog.Logger
}

func (c *RdkafkaConfig) setDefaults() {
	orDefault(&c.Pairs, 5)
	orDefault(&c.Seconds, 5)
	orDefault(&c.Size, 1024)
	seedAndLogger(&c.Seed, &c.Logger)
}

// RdkafkaPair is one pair's two rates, messages per second.
type RdkafkaPair struct {
	Lab     float64 `json:"lab_msgs_per_second"`
	Rdkafka float64 `json:"rdkafka_msgs_per_second"`
	LabRan1 bool    `json:"lab_ran_first"`
}

// RdkafkaReport is the outcome of RunRdkafka.
type RdkafkaReport struct {
	Seed  uint64        `json:"seed"`
	Pairs []RdkafkaPair `json:"pairs"`
}

// Medians returns the two medians and their ratio lab/rdkafka.
func (r *RdkafkaReport) Medians() (lab, rdk, ratio float64) {
	var ls, rs []float64
	for _, p := range r.Pairs {
		ls, rs = append(ls, p.Lab), append(rs, p.Rdkafka)
	}
	lab, rdk = stats.Median(ls), stats.Median(rs)
	if rdk > 0 {
		ratio = lab / rdk
	}
	return lab, rdk, ratio
}

// RunRdkafka runs the pairs. It returns the pairs measured so far with any
// error.
func RunRdkafka(ctx context.Context, cfg RdkafkaConfig) (*RdkafkaReport, error) {
	cfg.setDefaults()
	if cfg.RdkPerfPath == "" || (cfg.Brokers == "" && (cfg.KfakePath == "" || cfg.WorkDir == "")) {
		return nil, errors.New("rdkafka bench: rdkafka_performance path, and a target or kfake path and work dir, are required")
	}
	if cfg.Brokers == "" {
		addr, err := launch.FreeAddr()
		if err != nil {
			return nil, err
		}
		p, err := launch.Start(ctx, launch.Spec{Name: "kfake", Path: cfg.KfakePath, Addr: addr,
			Args: []string{"-listen", addr, "-data-dir", filepath.Join(cfg.WorkDir, "data")}, LogFile: filepath.Join(cfg.WorkDir, "kfake.log")})
		if err != nil {
			return nil, err
		}
		defer p.Stop(30 * time.Second)
		cfg.Brokers = addr
	}
	d := loadgen.DefaultDriver()
	d.Producer.Acks, d.Producer.Idempotent = "1", false
	d.Producer.Linger = 5 * time.Millisecond
	d.Producer.BatchBytes = 1 << 20
	d.Producer.BufferRecords = 100000 // librdkafka's queue.buffering.max.messages default
	w := loadgen.Workload{Name: "lab vs rdkafka", Topics: 1, PartitionsPerTopic: 1, MessageSize: cfg.Size,
		ProducersPerTopic: 1, TestDurationSeconds: cfg.Seconds}
	rep := &RdkafkaReport{Seed: cfg.Seed}
	order := newRounds(cfg.Seed, 3, []string{"lab", "rdkafka"})
	for i := range cfg.Pairs {
		var pair RdkafkaPair
		for j, side := range order.next() {
			switch side {
			case "lab":
				pair.LabRan1 = j == 0
				res, err := loadgen.Run(ctx, w, d, loadgen.Options{Brokers: []string{cfg.Brokers}, Unpaced: true})
				if err != nil {
					return rep, fmt.Errorf("pair %d, lab load: %w", i+1, err)
				}
				pair.Lab = res.Aggregate.PublishRate
			case "rdkafka":
				r, err := rdkafkaPass(ctx, cfg, i)
				if err != nil {
					return rep, fmt.Errorf("pair %d, rdkafka_performance: %w", i+1, err)
				}
				pair.Rdkafka = r
			}
		}
		cfg.Logger.Info("pair", "n", i+1, "lab_msgs_per_s", pair.Lab, "rdkafka_msgs_per_s", pair.Rdkafka)
		rep.Pairs = append(rep.Pairs, pair)
	}
	return rep, nil
}

// rdkafkaPass produces to a fresh 1-partition topic for cfg.Seconds with
// rdkafka_performance and returns its delivered messages per second.
func rdkafkaPass(ctx context.Context, cfg RdkafkaConfig, pair int) (float64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topic := "lab-rdkafka-" + strconv.Itoa(pair) + "-" + strconv.FormatUint(cfg.Seed, 36)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		return 0, fmt.Errorf("creating %s: %w", topic, err)
	}
	defer adm.DeleteTopics(context.WithoutCancel(ctx), topic) //nolint:errcheck // best effort
	r, err := rdkperf.Run(ctx, cfg.RdkPerfPath, rdkperf.Pass{
		Mode: rdkperf.Produce, Brokers: cfg.Brokers, Topic: topic, Partition: 0, Size: cfg.Size,
		Duration: time.Duration(cfg.Seconds) * time.Second,
		Props: map[string]string{"acks": "1", "linger.ms": "5", "batch.size": "1048576",
			"enable.idempotence": "false", "compression.codec": "none"},
	})
	if err != nil {
		return 0, err
	}
	return r.MsgsPerSec(), nil
}
