package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/brokerlab/brokerlab/bench"
	"github.com/brokerlab/brokerlab/procsample"
	"github.com/brokerlab/brokerlab/tuning/host"
	"github.com/brokerlab/brokerlab/tuning/powercut"
)

func runPowercut(ctx context.Context, logger *slog.Logger, args []string) error {
	fs := newFlags("powercut")
	out := fs.String("out", "results", "directory under which results/<timestamp>-powercut/ is written")
	trials := fs.Int("trials", 50, "power cuts per flush policy and filesystem semantics")
	policies := fs.String("policies", "", "comma-separated flush policies (default all: page-cache, every-1000-msgs, every-100ms, fsync-on-ack)")
	semantics := fs.String("semantics", "", "comma-separated filesystem semantics (default both: data, data+metadata)")
	producers := fs.Int("producers", 2, "idempotent acks=all producers per topic")
	partitions := fs.Int("partitions", 2, "partitions per topic")
	minRun := fs.Duration("min-run", 300*time.Millisecond, "earliest cut after the producers start")
	maxRun := fs.Duration("max-run", 1500*time.Millisecond, "latest cut after the producers start")
	segment := fs.Int("segment-bytes", 16<<10, "log.segment.bytes (small: segments roll during a trial)")
	retention := fs.Duration("retention", 1500*time.Millisecond, "retention.ms of the first topic (short: retention deletes during a trial)")
	torn := fs.Int64("torn", powercut.TornSector, "torn-write unit in bytes (512 sector, 4096 page, -1 off)")
	seed := fs.Uint64("seed", 0, "random seed (0: from the clock)")
	loopTrials := fs.Int("loop-trials", 0, "also run this many kill-and-copy trials per policy on ext4 over a loop device with writeback held off (the model's check against a real filesystem)")
	state := fs.String("state", "", "journal directory (default $"+host.StateDirEnv+" or "+host.DefaultStateDir+")")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("lab powercut mounts a FUSE filesystem: run it as root")
	}

	cfg := bench.PowercutConfig{
		Trials: *trials, Producers: *producers, Partitions: *partitions, MinRun: *minRun, MaxRun: *maxRun, SegmentBytes: *segment, Retention: *retention,
		Torn: *torn, Seed: *seed, Progress: os.Stderr, Logger: logger.With("component", "powercut"),
	}
	var err error
	if cfg.Policies, err = bench.FlushPoliciesNamed(splitList(*policies)); err != nil {
		return err
	}
	if cfg.Semantics, err = bench.CutSemanticsNamed(splitList(*semantics)); err != nil {
		return err
	}
	bin, err := executableDir()
	if err != nil {
		return err
	}
	cfg.BrokerPath = filepath.Join(bin, "broker")
	work, err := os.MkdirTemp("", "brokerlab-powercut-")
	if err != nil {
		return err
	}
	keepWork := false
	defer func() {
		if !keepWork {
			os.RemoveAll(work)
		}
	}()
	cfg.WorkDir = work

	session, undone, err := host.Open(host.Config{StateDir: *state, Logger: logger})
	if err != nil {
		return err
	}
	for _, u := range undone {
		fmt.Fprintf(os.Stderr, ">> restored from an earlier run: %s\n", u)
	}
	defer func() {
		if err := session.Close(); err != nil {
			fmt.Fprintf(os.Stderr, ">> restoring the host: %v (run lab restore)\n", err)
		}
	}()
	cfg.Session = session
	env := bench.Environment(work)
	began := time.Now()
	rep, runErr := &bench.PowercutReport{}, error(nil)
	if *trials > 0 {
		rep, runErr = bench.RunPowercut(ctx, cfg)
	}
	keepWork = runErr != nil // the failing trial's directory, for a look
	if rep == nil {
		return runErr
	}
	var loop []bench.PowercutLoopTrial
	if runErr == nil && *loopTrials > 0 {
		lcfg := cfg
		lcfg.Trials = *loopTrials
		if len(lcfg.Policies) == 0 {
			lcfg.Policies = bench.FlushPolicies
		}
		loop, runErr = bench.RunPowercutLoop(ctx, lcfg)
	}
	run := bench.PowercutRun{Config: cfg, Report: rep, Loop: loop, Env: env, WorkDir: work,
		Command: commandLine(), Commit: buildCommit(), Took: time.Since(began), Err: runErr}
	if err := saveReport(*out, "-powercut", runErr, func(dir string) error { return run.Save(dir, os.Stdout) }); err != nil {
		return err
	}
	return rep.Verdict()
}

// buildCommit says which commit the lab was built from (procsample.ReadBuild).
func buildCommit() string {
	b := procsample.ReadBuild()
	switch {
	case b.Commit == "":
		return "unknown"
	case b.CommitFrom == "checkout":
		return b.Commit + " (HEAD of the checkout at run time; the binary has no VCS stamp)"
	case b.Modified:
		return b.Commit + " (with uncommitted changes)"
	}
	return b.Commit
}
