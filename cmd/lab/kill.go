package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/brokerlab/brokerlab/bench"
)

func init() {
	register("kill", command{
		summary: "SIGKILL the broker at random moments under acks=all load; check no acknowledged record is lost",
		run:     runKill,
	})
}

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

	bin, work, cleanup, err := exp.dirs()
	if err != nil {
		return err
	}
	defer cleanup()
	cfg := bench.KillConfig{
		BrokerPath: filepath.Join(bin, "broker"), WorkDir: work, Trials: *trials,
		Producers: *producers, Partitions: *partitions, MaxRun: *maxRun,
		Logger: logger.With("component", "killtest"),
	}
	if *txns {
		cfg.MaxRun *= 2
		rep, runErr := bench.RunKillTxn(ctx, bench.KillTxnConfig{KillConfig: cfg})
		if rep == nil {
			return runErr
		}
		var lossErr error
		if err := saveReport(*exp.out, "-kill-txn", nil, func(runDir string) error { lossErr = rep.Save(runDir, os.Stdout); return nil }); err != nil {
			return err
		}
		return errors.Join(runErr, lossErr)
	}
	rep, runErr := bench.RunKill(ctx, cfg)
	if rep == nil {
		return runErr
	}
	var lossErr error
	if err := exp.save(runErr, func(runDir string) error { lossErr = rep.Save(runDir, os.Stdout); return nil }); err != nil {
		return err
	}
	return lossErr
}
