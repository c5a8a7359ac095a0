package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/brokerlab/brokerlab/bench"
	"github.com/brokerlab/brokerlab/loadgen"
)

func runProbeCost(ctx context.Context, logger *slog.Logger, args []string) error {
	fs, exp := newExperiment("probe-cost", "where the brokers' logs live (default a temp dir)")
	pairs := fs.Int("repetitions", 10, "interleaved pairs (one pass with every probe, one without)")
	warmup := fs.Duration("warmup", 5*time.Second, "warm-up of each pass")
	measure := fs.Duration("measure", 20*time.Second, "measured phase of each pass")
	workload := fs.String("workload", "", "the fixed-rate workload file (default 1 topic x 16 partitions, 1 KiB at 20k/s)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	return runExperiment(exp, func(env runEnv) (*bench.ProbeCostReport, error) {
		cfg := bench.ProbeCostConfig{BrokerPath: env.binary("broker"), WorkDir: env.dir, Pairs: *pairs, Warmup: *warmup, Measure: *measure,
			Logger: logger.With("component", "probecost")}
		if *workload != "" {
			w, err := loadgen.LoadWorkload(*workload)
			if err != nil {
				return nil, err
			}
			cfg.Workload = &w
		}
		return bench.RunProbeCost(ctx, cfg)
	}, (*bench.ProbeCostReport).Save)
}
