package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/brokerlab/brokerlab/bench"
)

func runAbuse(ctx context.Context, logger *slog.Logger, args []string) error {
	fs, exp := newExperiment("abuse", "where the broker's log lives (default a temp dir)")
	duration := fs.Duration("duration", 10*time.Minute, "total time of the misbehaving mix, split over the rounds' abuse phases")
	rounds := fs.Int("repetitions", 5, "rounds, each a solo and an abuse phase in a seeded order")
	solo := fs.Duration("solo", 0, "each solo phase (default half an abuse phase)")
	rate := fs.Float64("rate", 5000, "the well-behaved producer's held rate, records/s")
	size := fs.Int("size", 256, "record size (key and value), bytes")
	seed := fs.Uint64("seed", 0, "seed of the phase order and the mix (default: time)")
	var props stringList
	fs.Var(&props, "broker-prop", "extra server.properties line key=value for the broker (repeatable), e.g. brokerlab.metrics.pprof=true")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	var invErr error
	if err := runExperiment(exp, func(env runEnv) (*bench.AbuseReport, error) {
		return bench.RunAbuse(ctx, bench.AbuseConfig{
			BrokerPath: env.binary("broker"), WorkDir: env.dir, Duration: *duration, Rounds: *rounds,
			Solo: *solo, Rate: *rate, Size: *size, Seed: *seed, BrokerProps: props, Logger: logger.With("component", "abuse"),
		})
	}, func(rep *bench.AbuseReport, runDir, workDir string, stdout io.Writer) error {
		// Keep the broker's log and properties beside the results.
		for _, f := range []string{"broker-abuse.log", "server-abuse.properties"} {
			if b, err := os.ReadFile(filepath.Join(workDir, f)); err == nil {
				_ = os.WriteFile(filepath.Join(runDir, f), b, 0o644)
			}
		}
		invErr = rep.Save(runDir, workDir, stdout)
		return nil
	}); err != nil {
		return err
	}
	return invErr
}
