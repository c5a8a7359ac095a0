package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/brokerlab/brokerlab/bench"
	"github.com/brokerlab/brokerlab/internal/rdkperf"
	"github.com/brokerlab/brokerlab/loadgen"
)

func init() {
	register("fetch", command{
		summary: "fill one partition and read it back in sendfile and copy fetch modes with rdkafka_performance and the null consumer: MB/s, broker CPU/GB, RSS, share of the sendfile ceiling",
		run:     runFetch,
	})
}

func runFetch(ctx context.Context, logger *slog.Logger, args []string) error {
	fs, exp := newExperiment("fetch", "where the broker's log lives (needs -gb of free space; default a temp dir)")
	gb := fs.Float64("gb", 10, "log size in GB (10^9 bytes) to fill and read back")
	size := fs.Int("size", 1024, "record size in bytes")
	rounds := fs.Int("repetitions", 6, "interleaved rounds; each reads the whole log once per mode (5 or more give the ratios a 95% interval)")
	fs.IntVar(rounds, "rounds", 6, "deprecated spelling of -repetitions")
	modes := fs.String("modes", "sendfile,copy", "fetch modes to compare (brokerlab.fetch.mode values)")
	readers := fs.String("readers", "rdkafka_performance,null", "who reads the log in each mode: rdkafka_performance (a real client) and null (raw Fetch, framing checked, no record decoded)")
	nullStreams := fs.Int("null-streams", 4, "the null consumer's connections")
	ceilingsFile := fs.String("ceilings", "", "the machine's ceilings from lab ceilings -out (default: measured first in the work dir)")
	var overrides stringList
	fs.Var(&overrides, "override", "extra broker server.properties line key=value (repeatable)")
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
	cfg := bench.FetchConfig{
		BrokerPath: filepath.Join(bin, "broker"), RdkPerfPath: rdk, WorkDir: dir,
		LogBytes: int64(*gb * 1e9), Size: *size, Rounds: *rounds, Modes: strings.Split(*modes, ","),
		Readers: strings.Split(*readers, ","), NullStreams: *nullStreams, BrokerOverrides: overrides,
		Logger: logger.With("component", "fetchbench"),
	}
	if *ceilingsFile != "" {
		if cfg.Ceilings, err = loadgen.ReadCeilings(*ceilingsFile); err != nil {
			return err
		}
	}
	rep, runErr := bench.RunFetch(ctx, cfg)
	if rep == nil {
		return runErr
	}
	return exp.save(runErr, func(runDir string) error { return rep.Save(runDir, cfg, os.Stdout) })
}
