package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/brokerlab/brokerlab/internal/reqbench"
)

func init() {
	register("requests", command{
		summary: "compare broker builds' CPU per request and per GB at a held rate (interleaved)",
		run:     runRequests,
	})
}

func runRequests(ctx context.Context, logger *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("requests", flag.ContinueOnError)
	builds := fs.String("brokers", "", "LABEL=PATH[,LABEL=PATH] broker binaries to compare, e.g. before=/tmp/old/broker,after=bin/broker")
	rate := fs.Float64("rate", 50000, "producer rate, messages/s")
	size := fs.Int("size", 1024, "message size, bytes")
	duration := fs.Duration("duration", 20*time.Second, "measured phase of each pass")
	warmup := fs.Duration("warmup", 5*time.Second, "warm-up of each pass at the rate")
	rounds := fs.Int("rounds", 3, "passes per build, interleaved")
	workDir := fs.String("work-dir", "", "directory for the passes' logs (default: a temp dir)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	cfg := reqbench.Config{Rate: *rate, Size: *size, Duration: *duration, Warmup: *warmup, Rounds: *rounds, WorkDir: *workDir, Logger: logger}
	for _, b := range strings.Split(*builds, ",") {
		label, path, ok := strings.Cut(b, "=")
		if !ok {
			return fmt.Errorf("-brokers: %q: want LABEL=PATH", b)
		}
		cfg.Builds = append(cfg.Builds, reqbench.Build{Label: label, Path: path})
	}
	if cfg.WorkDir == "" {
		dir, err := os.MkdirTemp("", "lab-requests-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.WorkDir = dir
	}
	passes, err := reqbench.Run(ctx, cfg)
	reqbench.WriteTable(os.Stdout, passes)
	return err
}
