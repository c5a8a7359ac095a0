package main

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/brokerlab/brokerlab/bench"
	"github.com/brokerlab/brokerlab/tuning/report"
)

// benchStages are the parts of lab bench, in the order they run.
var benchStages = bench.Stages

func runBench(ctx context.Context, logger *slog.Logger, args []string) error {
	fs := newFlags("bench")
	out := fs.String("out", "results", "directory under which results/<timestamp>/ is written")
	root := fs.String("root", ".", "repository root (workloads/ is read from it)")
	stages := fs.String("stages", strings.Join(benchStages, ","), "stages to run, comma-separated: "+strings.Join(benchStages, ", "))
	pairs := fs.Int("repetitions", 5, "versus: interleaved broker/kfake rounds")
	fs.IntVar(pairs, "pairs", 5, "deprecated spelling of -repetitions")
	records := fs.Int64("records", 500_000, "versus: records per produce and consume pass")
	size := fs.Int("size", 1024, "versus: record size in bytes")
	loadWorkload := fs.String("workload", "workloads/1-topic-1-partition-1kb-max.yaml", "load: the max-rate workload")
	loadDriver := fs.String("driver", "workloads/driver-default.yaml", "load: the driver (client settings)")
	measure := fs.Duration("measure", 20*time.Second, "load: measured duration of each load run")
	searchMax := fs.Duration("search-max", 30*time.Second, "load: time bound of the max-rate search")
	plan := fs.String("plan", "plans/quick.yaml", "plan: the tuning plan run last (XFS vs EXT4 on loop devices by default)")
	planArgs := fs.String("plan-args", "", "plan: extra lab sweep flags, space-separated (e.g. \"-repetitions 2 -measure 5s\")")
	profile := fs.String("profile", "", "plan: save pprof profiles of each run's broker (cpu,heap,mutex,block), as lab sweep -profile")
	pyroscope := fs.String("pyroscope", "", "plan: send the brokers' continuous profiles to this pyroscope server, as lab sweep -pyroscope")
	ceilingRuns := fs.Int("ceiling-runs", 3, "ceilings: measurements of the machine's ceilings (a share of a ceiling is given with their spread)")
	note := fs.String("note", "", "a remark on the conditions (e.g. \"machine shared with other builds\"), put in the summary and the run's README.md")
	overrides := overridesFlag(fs)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}

	bin, err := executableDir()
	if err != nil {
		return err
	}
	return bench.RunSuite(ctx, bench.SuiteConfig{
		Out: *out, Root: *root, BinDir: bin, Stages: strings.Split(*stages, ","),
		Repetitions: *pairs, Records: *records, Size: *size,
		Workload: *loadWorkload, Driver: *loadDriver, Measure: *measure, SearchMax: *searchMax,
		PlanFile: *plan, PlanArgs: strings.Fields(*planArgs), Overrides: *overrides,
		Profile: *profile, Pyroscope: *pyroscope,
		Plan: func(ctx context.Context, args []string) (string, error) {
			return runPlanArgs(ctx, logger, "lab bench", *plan, args)
		},
		CeilingRuns: *ceilingRuns, Note: *note, Command: commandLine(),
		Stdout: os.Stdout, Progress: os.Stderr, Width: report.Width(os.Stdout), Logger: logger,
	})
}
