package main

import (
	"context"
	"log/slog"

	"github.com/brokerlab/brokerlab/bench"
)

func runVersus(ctx context.Context, logger *slog.Logger, args []string) error {
	fs, exp := newExperiment("versus", "where the servers' data lives (default a temp dir)")
	pairs := fs.Int("repetitions", 5, "interleaved broker/kfake rounds per cell")
	sizes := fs.String("sizes", "1024", "record sizes in bytes, comma-separated")
	partitions := fs.String("partitions", "1", "partitions of the topic, comma-separated")
	grid := fs.Bool("grid", false, "the full grid: -sizes 100,1024,65536 -partitions 1,100,1000")
	passBytes := fs.Int64("bytes", 512_000_000, "bytes per produce and consume pass (records = bytes / size)")
	records := fs.Int64("records", 0, "records per pass for every size (overrides -bytes)")
	overrides := overridesFlag(fs)
	brokerEnv := brokerEnvFlag(fs)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg := bench.VersusConfig{Pairs: *pairs, PassBytes: *passBytes, Records: *records, BrokerOverrides: *overrides, BrokerEnv: *brokerEnv,
		Logger: logger.With("component", "versus")}
	var err error
	if *grid {
		cfg.Sizes, cfg.Partitions = bench.VersusSizes, bench.VersusPartitions
	} else {
		if cfg.Sizes, err = intList("-sizes", *sizes); err != nil {
			return err
		}
		if cfg.Partitions, err = intList("-partitions", *partitions); err != nil {
			return err
		}
	}
	return runExperiment(exp, func(env runEnv) (*bench.VersusReport, error) {
		var err error
		if cfg.RdkPerfPath, err = env.rdkPerf(); err != nil {
			return nil, err
		}
		cfg.BrokerPath, cfg.KfakePath = env.binary("broker"), env.binary("kfake")
		cfg.WorkDir = env.dir
		return bench.RunVersus(ctx, cfg)
	}, (*bench.VersusReport).Save)
}
