package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/brokerlab/brokerlab/internal/fetchbench"
	"github.com/brokerlab/brokerlab/internal/rdkperf"
)

func init() {
	register("fetch", command{
		summary: "fill one partition and read it back in sendfile and copy fetch modes, sampling broker RSS",
		run:     runFetch,
	})
}

func runFetch(ctx context.Context, logger *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("lab fetch", flag.ExitOnError)
	out := fs.String("out", "results", "directory under which results/<timestamp>-fetch/ is written")
	work := fs.String("work-dir", "", "where the broker's log lives (needs -gb of free space; default a temp dir)")
	gb := fs.Float64("gb", 10, "log size in GB (10^9 bytes) to fill and read back")
	size := fs.Int("size", 1024, "record size in bytes")
	rounds := fs.Int("rounds", 3, "interleaved rounds; each reads the whole log once per mode")
	modes := fs.String("modes", "sendfile,copy", "fetch modes to compare (brokerlab.fetch.mode values)")
	_ = fs.Parse(args)

	bin, err := executableDir()
	if err != nil {
		return err
	}
	rdk, err := rdkperf.Find(filepath.Dir(bin))
	if err != nil {
		return err
	}
	dir := *work
	if dir == "" {
		if dir, err = os.MkdirTemp("", "brokerlab-fetch-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	cfg := fetchbench.Config{
		BrokerPath: filepath.Join(bin, "broker"), RdkPerfPath: rdk, WorkDir: dir,
		LogBytes: int64(*gb * 1e9), Size: *size, Rounds: *rounds, Modes: strings.Split(*modes, ","),
		Logger: logger.With("component", "fetchbench"),
	}
	rep, runErr := fetchbench.Run(ctx, cfg)
	if rep == nil {
		return runErr
	}
	runDir, err := newRunDir(*out, "-fetch")
	if err != nil {
		return err
	}
	if err := saveRun(runDir, "fetch.json", rep); err != nil {
		return err
	}
	if len(rep.Passes) > 0 {
		if err := rep.WriteTable(os.Stdout, cfg.Modes, false); err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(runDir, "fetch.md"))
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(f, "# Fetch path: %.1f GB log of %d-byte records, read by rdkafka_performance, %d interleaved rounds\n\n", float64(rep.LogBytes)/1e9, *size, *rounds)
		fmt.Fprintf(f, "Fill (produce) rate: %.1f MB/s.\n\n", rep.Fill.MBps())
		if err := rep.WriteTable(f, cfg.Modes, true); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, ">> results in %s\n", runDir)
	return runErr
}
