package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/brokerlab/brokerlab/bench"
)

func runRequests(ctx context.Context, logger *slog.Logger, args []string) error {
	fs, exp := newExperiment("requests", "directory for the passes' logs (default: a temp dir)")
	builds := fs.String("brokers", "", "LABEL=PATH[,LABEL=PATH] broker binaries to compare, e.g. before=/tmp/old/broker,after=bin/broker; one binary under two labels compares environments (-broker-env)")
	var envs stringList
	fs.Var(&envs, "broker-env", "LABEL:KEY=VALUE added to that build's broker environment (repeatable), e.g. -broker-env gmp1:GOMAXPROCS=1")
	fs.Var(&envs, "env", "deprecated spelling of -broker-env")
	rate := fs.Float64("rate", 50000, "producer rate, messages/s")
	size := fs.Int("size", 1024, "message size, bytes")
	duration := fs.Duration("duration", 20*time.Second, "measured phase of each pass")
	warmup := fs.Duration("warmup", 5*time.Second, "warm-up of each pass at the rate")
	rounds := fs.Int("repetitions", 3, "passes per build, interleaved")
	fs.IntVar(rounds, "rounds", 3, "deprecated spelling of -repetitions")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg := bench.RequestsConfig{Rate: *rate, Size: *size, Duration: *duration, Warmup: *warmup, Rounds: *rounds, Logger: logger}
	for _, b := range strings.Split(*builds, ",") {
		label, path, ok := strings.Cut(b, "=")
		if !ok {
			return fmt.Errorf("-brokers: %q: want LABEL=PATH", b)
		}
		cfg.Builds = append(cfg.Builds, bench.RequestsBuild{Label: label, Path: path})
	}
	for _, e := range envs {
		label, kv, ok := strings.Cut(e, ":")
		i := slices.IndexFunc(cfg.Builds, func(b bench.RequestsBuild) bool { return b.Label == label })
		if !ok || !strings.Contains(kv, "=") || i < 0 {
			return fmt.Errorf("-broker-env %q: want LABEL:KEY=VALUE with a LABEL of -brokers", e)
		}
		cfg.Builds[i].Env = append(cfg.Builds[i].Env, kv)
	}
	dir, cleanup, err := workDir(*exp.work, "lab-requests-")
	if err != nil {
		return err
	}
	defer cleanup()
	cfg.WorkDir = dir
	passes, runErr := bench.RunRequests(ctx, cfg)
	if len(passes) == 0 {
		return runErr
	}
	return exp.save(runErr, func(out string) error { return bench.SaveRequests(out, dir, cfg, passes, os.Stdout) })
}
