package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/brokerlab/brokerlab/bench"
)

func init() {
	register("requests", command{
		summary: "compare broker builds' CPU per request and per GB at a held rate (interleaved)",
		run:     runRequests,
	})
}

func runRequests(ctx context.Context, logger *slog.Logger, args []string) error {
	fs := newFlags("requests")
	builds := fs.String("brokers", "", "LABEL=PATH[,LABEL=PATH] broker binaries to compare, e.g. before=/tmp/old/broker,after=bin/broker")
	rate := fs.Float64("rate", 50000, "producer rate, messages/s")
	size := fs.Int("size", 1024, "message size, bytes")
	duration := fs.Duration("duration", 20*time.Second, "measured phase of each pass")
	warmup := fs.Duration("warmup", 5*time.Second, "warm-up of each pass at the rate")
	rounds := fs.Int("repetitions", 3, "passes per build, interleaved")
	fs.IntVar(rounds, "rounds", 3, "deprecated spelling of -repetitions")
	work := fs.String("work-dir", "", "directory for the passes' logs (default: a temp dir)")
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
	dir, cleanup, err := workDir(*work, "lab-requests-")
	if err != nil {
		return err
	}
	defer cleanup()
	cfg.WorkDir = dir
	passes, err := bench.RunRequests(ctx, cfg)
	bench.WriteRequestsTable(os.Stdout, passes)
	return err
}
