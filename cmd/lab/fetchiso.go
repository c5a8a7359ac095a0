package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/brokerlab/brokerlab/bench"
	"github.com/brokerlab/brokerlab/internal/rdkperf"
)

func init() {
	register("fetch-isolation", command{
		summary: "fill one partition with transactions and read it back at read_uncommitted and read_committed, broker CPU per GB",
		run:     runFetchIsolation,
	})
}

func runFetchIsolation(ctx context.Context, logger *slog.Logger, args []string) error {
	fs, exp := newExperiment("fetch-isolation", "where the broker's log lives (needs a little more than -gb free; default a temp dir)")
	gb := fs.Float64("gb", 1, "record data in GB (10^9 bytes) to write in transactions and read back")
	rounds := fs.Int("repetitions", 5, "interleaved rounds; each reads the whole log once per isolation level")
	txn := fs.Int("txn-records", 1000, "records per transaction")
	abortEvery := fs.Int("abort-every", 10, "abort one transaction in this many")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	bin, dir, cleanup, err := exp.dirs()
	if err != nil {
		return err
	}
	defer cleanup()
	rdk, err := rdkperf.Find(filepath.Dir(bin))
	if err != nil {
		return err
	}
	rep, runErr := bench.RunFetchIsolation(ctx, bench.FetchIsoConfig{
		BrokerPath: filepath.Join(bin, "broker"), RdkPerfPath: rdk, WorkDir: dir,
		LogBytes: int64(*gb * 1e9), Rounds: *rounds, TxnRecords: *txn, AbortEvery: *abortEvery,
		Logger: logger.With("component", "fetchiso"),
	})
	if rep == nil {
		return runErr
	}
	return exp.save(runErr, func(runDir string) error { return rep.Save(runDir, os.Stdout) })
}
