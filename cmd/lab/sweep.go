package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/brokerlab/brokerlab/internal/profiling"
	"github.com/brokerlab/brokerlab/tuning"
	"github.com/brokerlab/brokerlab/tuning/host"
	"github.com/brokerlab/brokerlab/tuning/sweep"
)

// planCommand is lab name: runPlanArgs with -plan defaulting to
// defaultPlan.
func planCommand(name, defaultPlan, summary string) command {
	return command{
		summary: summary,
		run: func(ctx context.Context, logger *slog.Logger, args []string) error {
			_, err := runPlanArgs(ctx, logger, "lab "+name, defaultPlan, args)
			return err
		},
	}
}

// runPlanArgs is lab sweep and lab ab (and lab bench's plan step): parse
// the sweep flags from args (name is the flag set's name for usage,
// defaultPlan the -plan default), run the plan, write its tables (also to
// stdout) and guideline, and return the result dir ("" when nothing was
// written: -check, or an error before the first run). Flags -repetitions,
// -warmup, -measure and -seed override the plan's values; the result dir's
// plan.yaml and command.txt record them and the full command line.
func runPlanArgs(ctx context.Context, logger *slog.Logger, name, defaultPlan string, args []string) (string, error) {
	fs := newFlags(strings.TrimPrefix(name, "lab "))
	planFile := fs.String("plan", defaultPlan, "plan file (see plans/)")
	root := fs.String("root", ".", "repository root: workload and driver paths in the plan are relative to it")
	out := fs.String("out", "results", "directory under which <plan>-<timestamp>/ is written")
	work := fs.String("work-dir", tuning.DefaultWorkDir, "directory for loop files and mount points (on the root disk); without root: $XDG_STATE_HOME/brokerlab/work or ~/.cache/brokerlab/work")
	fs.StringVar(work, "work", tuning.DefaultWorkDir, "deprecated spelling of -work-dir")
	state := fs.String("state", "", "journal directory (default $"+host.StateDirEnv+" or "+host.DefaultStateDir+"; without root: $XDG_STATE_HOME/brokerlab/journal or ~/.cache/brokerlab/journal)")
	brokerBin := fs.String("broker", "", "broker binary (default: broker beside this lab binary)")
	config := fs.String("config", "config/server.properties", "broker server.properties")
	noProbes := fs.Bool("no-probes", false, "do not attach the eBPF probes (a plan's probes dimension is then left out)")
	unprivileged := fs.Bool("unprivileged", false, "run as the lab does without root even when root: plain log directory, no sysctls, cgroups, drop_caches or probes")
	brokerUser := fs.String("broker-user", "", "run the broker as this unprivileged user (for example nobody); default: the lab's user")
	check := fs.Bool("check", false, "validate the plan, print its cells, schedule and what this host would skip, and exit")
	repetitions := fs.Int("repetitions", 0, "override the plan's repetitions (rounds); recorded in the result dir")
	warmup := fs.Duration("warmup", 0, "override the plan's warm-up per run (such as 2s); recorded in the result dir")
	measure := fs.Duration("measure", 0, "override the plan's measured window per run (such as 5s); recorded in the result dir")
	seed := fs.Uint64("seed", 0, "override the plan's shuffle seed; recorded in the result dir")
	profile := fs.String("profile", "", "save pprof profiles of each run's broker over its measured window: cpu,heap,mutex,block (profiles/<cell>-r<N>.<kind>.pprof)")
	pyroscope := fs.String("pyroscope", "", "send the brokers' continuous profiles to this pyroscope server, tagged plan, cell and rep")
	var devices stringList
	fs.Var(&devices, "device", "a spare block device the lab may format (repeatable); the plan's disk kind device must be named here too")
	if _, err := parseFlags(fs, args); err != nil {
		return "", err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	kinds, err := profiling.ParseKinds(*profile)
	if err != nil {
		return "", err
	}
	var o tuning.Overrides
	if set["repetitions"] {
		o.Repetitions = repetitions
	}
	if set["warmup"] {
		o.Warmup = warmup
	}
	if set["measure"] {
		o.Measure = measure
	}
	if set["seed"] {
		o.Seed = seed
	}
	if *brokerBin == "" {
		dir, err := executableDir()
		if err != nil {
			return "", err
		}
		*brokerBin = filepath.Join(dir, "broker")
	}
	return sweep.Run(ctx, sweep.Config{
		PlanFile: *planFile, Root: *root, Out: *out, WorkDir: *work, WorkDirSet: set["work"] || set["work-dir"], StateDir: *state,
		BrokerPath: *brokerBin, BrokerConfig: *config, BrokerUser: *brokerUser,
		NoProbes: *noProbes, Unprivileged: *unprivileged, Check: *check, Overrides: o, Devices: devices,
		Profiles: kinds, Pyroscope: *pyroscope,
		Command: commandLine(), Stdout: os.Stdout, Progress: os.Stderr, Logger: logger,
	})
}

// commandLine is the lab's command line, quoted where a shell needs it.
func commandLine() string {
	var q []string
	for _, a := range os.Args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$`\\|&;<>()*?[]#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q = append(q, a)
	}
	return strings.Join(q, " ")
}
