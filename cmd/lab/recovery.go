package main

import (
	"context"
	"log/slog"

	"github.com/brokerlab/brokerlab/bench"
)

func runRecovery(ctx context.Context, logger *slog.Logger, args []string) error {
	fs, exp := newExperiment("recovery", "where the broker's log lives: on a disk, not tmpfs, with a little more than -gb free (default a temp dir)")
	gb := fs.Float64("gb", 3, "record value bytes to produce, in GB (10^9 bytes)")
	partitions := fs.Int("partitions", 1000, "partitions of the topic")
	size := fs.Int("size", 1024, "record value size in bytes")
	batch := fs.Int("batch-records", 16, "records sent to one partition at a time, and the most per batch")
	segment := fs.Int64("segment-bytes", 0, "the topic's segment.bytes (0: the broker's default, 1 GiB)")
	threads := fs.String("threads", "1,4", "num.recovery.threads.per.data.dir values to compare, the first is the baseline")
	pairs := fs.Int("repetitions", 3, "rounds; each starts every thread count once cold and once warm")
	fs.IntVar(pairs, "pairs", 3, "deprecated spelling of -repetitions")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}

	ths, err := intList("-threads", *threads)
	if err != nil {
		return err
	}
	return runExperiment(exp, func(env runEnv) (*bench.RecoveryReport, error) {
		return bench.RunRecovery(ctx, bench.RecoveryConfig{
			BrokerPath: env.binary("broker"), WorkDir: env.dir, Partitions: *partitions, LogBytes: int64(*gb * 1e9),
			RecordSize: *size, BatchRecords: *batch, SegmentBytes: *segment, Threads: ths, Pairs: *pairs,
			Logger: logger.With("component", "recoverybench"),
		})
	}, (*bench.RecoveryReport).Save)
}
