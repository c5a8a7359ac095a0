package main

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"github.com/brokerlab/brokerlab/bench"
	"github.com/brokerlab/brokerlab/loadgen"
)

func runFetch(ctx context.Context, logger *slog.Logger, args []string) error {
	fs, exp := newExperiment("fetch", "where the broker's log lives (needs -gb of free space; default a temp dir)")
	gb := fs.Float64("gb", 10, "log size in GB (10^9 bytes) to fill and read back")
	size := fs.Int("size", 1024, "record size in bytes")
	rounds := fs.Int("repetitions", 6, "interleaved rounds; each reads the whole log once per mode (5 or more give the ratios a 95% interval)")
	fs.IntVar(rounds, "rounds", 6, "deprecated spelling of -repetitions")
	modes := fs.String("modes", "sendfile,copy", "fetch modes to compare (brokerlab.fetch.mode values)")
	readers := fs.String("readers", "rdkafka_performance,null", "who reads the log in each mode: rdkafka_performance (a real client) and null (raw Fetch, framing checked, no record decoded)")
	nullStreams := fs.Int("null-streams", 16, "the null consumer's connections")
	nullMaxBytes := fs.Int("null-max-bytes", 512<<10, "the null consumer's max bytes per Fetch request")
	ceilingsFile := fs.String("ceilings", "", "the machine's ceilings from lab ceilings -out (default: measured first in the work dir)")
	overrides := overridesFlag(fs)
	brokerEnv := brokerEnvFlag(fs)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}

	cfg := bench.FetchConfig{
		LogBytes: int64(*gb * 1e9), Size: *size, Rounds: *rounds, Modes: strings.Split(*modes, ","),
		Readers: strings.Split(*readers, ","), NullStreams: *nullStreams, NullMaxBytes: int32(*nullMaxBytes), BrokerOverrides: *overrides, BrokerEnv: *brokerEnv,
		Logger: logger.With("component", "fetchbench"),
	}
	return runExperiment(exp, func(env runEnv) (*bench.FetchReport, error) {
		var err error
		if cfg.RdkPerfPath, err = env.rdkPerf(); err != nil {
			return nil, err
		}
		cfg.BrokerPath, cfg.WorkDir = env.binary("broker"), env.dir
		if *ceilingsFile != "" {
			if cfg.Ceilings, err = loadgen.ReadCeilings(*ceilingsFile); err != nil {
				return nil, err
			}
		}
		return bench.RunFetch(ctx, cfg)
	}, func(rep *bench.FetchReport, runDir, _ string, stdout io.Writer) error {
		return rep.Save(runDir, cfg, stdout)
	})
}
