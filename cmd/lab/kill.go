package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/brokerlab/brokerlab/bench"
)

func runKill(ctx context.Context, logger *slog.Logger, args []string) error {
	fs, exp := newExperiment("kill", "where the broker's logs live (default a temp dir)")
	trials := fs.Int("trials", 100, "kill/restart cycles")
	producers := fs.Int("producers", 4, "idempotent producers (acks=all)")
	partitions := fs.Int("partitions", 4, "partitions of each trial's topic")
	maxRun := fs.Duration("max-run", 750*time.Millisecond, "latest kill moment after the producers start")
	txns := fs.Bool("txn", false, "transactional producers instead: a read_committed consumer must see every committed transaction exactly once and nothing of the others")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg := bench.KillConfig{
		Trials: *trials, Producers: *producers, Partitions: *partitions, MaxRun: *maxRun,
		Logger: logger.With("component", "killtest"),
	}
	var lossErr error
	if *txns {
		cfg.MaxRun *= 2
		exp.name = "kill-txn" // its results go to results/<timestamp>-kill-txn/
		err := runExperiment(exp, func(env runEnv) (*bench.KillTxnReport, error) {
			cfg.BrokerPath, cfg.WorkDir = env.binary("broker"), env.dir
			return bench.RunKillTxn(ctx, bench.KillTxnConfig{KillConfig: cfg})
		}, func(rep *bench.KillTxnReport, runDir, _ string, stdout io.Writer) error {
			lossErr = rep.Save(runDir, stdout)
			return nil
		})
		return errors.Join(err, lossErr)
	}
	if err := runExperiment(exp, func(env runEnv) (*bench.KillReport, error) {
		cfg.BrokerPath, cfg.WorkDir = env.binary("broker"), env.dir
		return bench.RunKill(ctx, cfg)
	}, func(rep *bench.KillReport, runDir, _ string, stdout io.Writer) error {
		lossErr = rep.Save(runDir, stdout)
		return nil
	}); err != nil {
		return err
	}
	return lossErr
}
