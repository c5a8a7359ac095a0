package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/brokerlab/brokerlab/bench"
)

func runFetchIsolation(ctx context.Context, logger *slog.Logger, args []string) error {
	fs, exp := newExperiment("fetch-isolation", "where the broker's log lives (needs a little more than -gb free; default a temp dir)")
	gb := fs.Float64("gb", 1, "record data in GB (10^9 bytes) to write in transactions and read back")
	rounds := fs.Int("repetitions", 5, "interleaved rounds; each reads the whole log once per isolation level")
	txn := fs.Int("txn-records", 1000, "records per transaction")
	abortEvery := fs.Int("abort-every", 10, "abort one transaction in this many")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	return runExperiment(exp, func(env runEnv) (*bench.FetchIsoReport, error) {
		rdk, err := env.rdkPerf()
		if err != nil {
			return nil, err
		}
		return bench.RunFetchIsolation(ctx, bench.FetchIsoConfig{
			BrokerPath: env.binary("broker"), RdkPerfPath: rdk, WorkDir: env.dir,
			LogBytes: int64(*gb * 1e9), Rounds: *rounds, TxnRecords: *txn, AbortEvery: *abortEvery,
			Logger: logger.With("component", "fetchiso"),
		})
	}, func(rep *bench.FetchIsoReport, runDir, _ string, stdout io.Writer) error {
		return rep.Save(runDir, stdout)
	})
}
