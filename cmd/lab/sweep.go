package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/brokerlab/brokerlab/internal/profiling"
	"github.com/brokerlab/brokerlab/loadgen"
	"github.com/brokerlab/brokerlab/tuning"
	"github.com/brokerlab/brokerlab/tuning/host"
	"github.com/brokerlab/brokerlab/tuning/report"
)

func init() {
	register("sweep", command{
		summary: "run a tuning plan (default plans/tune.yaml): tables and guide under -out",
		run: func(ctx context.Context, logger *slog.Logger, args []string) error {
			_, err := runPlanArgs(ctx, logger, "lab sweep", "plans/tune.yaml", args)
			return err
		},
	})
}

// devicesFlag collects repeated -device flags.
type devicesFlag []string

func (d *devicesFlag) String() string     { return strings.Join(*d, ",") }
func (d *devicesFlag) Set(v string) error { *d = append(*d, v); return nil }

// runPlanArgs is lab sweep and lab ab (and lab bench's plan step): parse
// the sweep flags from args (name is the flag set's name for usage,
// defaultPlan the -plan default), run the plan, write its tables (also to
// stdout) and guideline, and return the result dir ("" when nothing was
// written: -check, or an error before the first run). Flags -repetitions,
// -warmup, -measure and -seed override the plan's values; the result dir's
// plan.yaml and command.txt record them and the full command line.
func runPlanArgs(ctx context.Context, logger *slog.Logger, name, defaultPlan string, args []string) (string, error) {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	planFile := fs.String("plan", defaultPlan, "plan file (see plans/)")
	root := fs.String("root", ".", "repository root: workload and driver paths in the plan are relative to it")
	out := fs.String("out", "results", "directory under which <plan>-<timestamp>/ is written")
	work := fs.String("work", tuning.DefaultWorkDir, "directory for loop files and mount points (on the root disk); without root: $XDG_STATE_HOME/brokerlab/work or ~/.cache/brokerlab/work")
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
	var devices devicesFlag
	fs.Var(&devices, "device", "a spare block device the lab may format (repeatable); the plan's disk kind device must be named here too")
	_ = fs.Parse(args)
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	kinds, err := profiling.ParseKinds(*profile)
	if err != nil {
		return "", err
	}
	plan, err := tuning.LoadPlan(*planFile)
	if err != nil {
		return "", err
	}
	if err := plan.CheckFiles(*root); err != nil {
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
	if plan, err = plan.Override(o); err != nil {
		return "", err
	}
	if inv := plan.Invocation; inv != nil && !*check {
		what := "the command line overrides the plan"
		if inv.Reduced {
			what = "reduced run: a smoke test, not a measurement"
		}
		fmt.Fprintf(os.Stderr, ">> %s (%s); recorded in the result dir's plan.yaml and command.txt\n", what, strings.Join(inv.Overrides, "; "))
	}
	caps := tuning.DetectCapabilities("", "")
	if *unprivileged {
		caps = tuning.Capabilities{NoBPFReason: "-unprivileged"}
	}
	if *noProbes && caps.BPF {
		caps.BPF, caps.NoBPFReason = false, "-no-probes"
	}
	plan, skipped := plan.Degrade(caps)
	for _, s := range skipped {
		if !*check { // -check prints them with the plan
			fmt.Fprintf(os.Stderr, ">> skipped: %s\n", s)
		}
	}
	if !caps.Mount && os.Geteuid() != 0 && !set["work"] {
		// The defaults under /var/lib are root's; the journal's default
		// moves to the same private base (host.Config).
		dir, err := host.UserStateBase()
		if err != nil {
			return "", err
		}
		if err := host.MakePrivateDir(dir); err != nil {
			return "", err
		}
		*work = filepath.Join(dir, "work")
	}
	if plan.Invocation == nil {
		plan.Invocation = &tuning.Invocation{}
	}
	plan.Invocation.Command = commandLine()
	if *check {
		return "", printPlan(plan)
	}
	for _, d := range plan.Devices() {
		found := false
		for _, n := range devices {
			found = found || n == d
		}
		if !found {
			return "", fmt.Errorf("plan %s formats device %s: name it with -device %s too, to confirm it holds nothing you need", plan.Name, d, d)
		}
	}
	w, err := loadgen.LoadWorkload(filepath.Join(*root, plan.Workload))
	if err != nil {
		return "", err
	}
	d, err := loadgen.LoadDriver(filepath.Join(*root, plan.Driver))
	if err != nil {
		return "", err
	}
	if *brokerBin == "" {
		dir, err := executableDir()
		if err != nil {
			return "", err
		}
		*brokerBin = filepath.Join(dir, "broker")
	}

	// The runs' brokers listen for clients on free ports and serve no
	// metrics, so a sweep never collides with another broker on this host.
	broker := tuning.ExecBroker{Path: *brokerBin, Config: *config, Logger: logger,
		Overrides: []string{"brokerlab.metrics.listen="}}
	if *brokerUser != "" {
		u, err := user.Lookup(*brokerUser)
		if err != nil {
			return "", fmt.Errorf("-broker-user %s: %w", *brokerUser, err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		broker.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}

	session, undone, err := host.Open(host.Config{StateDir: *state, NamedDevices: devices, Logger: logger})
	if err != nil {
		return "", err
	}
	for _, u := range undone {
		fmt.Fprintf(os.Stderr, ">> restored from an earlier run: %s\n", u)
	}
	defer func() {
		if err := session.Close(); err != nil {
			fmt.Fprintf(os.Stderr, ">> restoring the host: %v (run lab restore)\n", err)
		}
	}()

	lenv, _ := loadgen.CaptureEnvironment("")
	env := tuning.Environment{Kernel: lenv.Kernel, CPU: lenv.CPUModel, CPUs: lenv.CPUs, MemoryMiB: lenv.MemTotalBytes >> 20,
		Workload: w.Name, GoVersion: lenv.GoVersion}
	dir := filepath.Join(*out, plan.Name+"-"+time.Now().UTC().Format("20060102T150405Z"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "command.txt"), []byte(plan.Invocation.Command+"\n"), 0o644); err != nil {
		return "", err
	}
	broker.LogDir = filepath.Join(dir, "broker-logs")
	cfg := tuning.RunnerConfig{
		Plan: plan, OutDir: dir, WorkDir: *work, Host: session, NoCgroups: !caps.Cgroups,
		Broker:      broker,
		Load:        tuning.LoadgenLoad{Workload: w, Driver: d, Logger: logger},
		Ceilings:    tuning.LoadgenCeilings{},
		Environment: env,
		Logger:      logger,
		Profiles:    kinds,
		Pyroscope:   *pyroscope,
		Progress: func(p tuning.Progress) {
			if p.Run == nil {
				fmt.Fprintf(os.Stderr, ">> %d runs done in %s (%d failed)\n", p.Total, p.Elapsed.Round(time.Second), p.Failed)
				return
			}
			fmt.Fprintf(os.Stderr, ">> run %d/%d: %s %s, repetition %d; about %s left\n",
				p.Done+1, p.Total, p.Run.Cell.ID, p.Run.Cell.Name, p.Run.Round, p.Left.Round(time.Second))
		},
	}
	if caps.BPF {
		cfg.Probes = tuning.BPFProbes{Logger: logger}
	}
	runner, err := tuning.NewRunner(cfg)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, ">> plan %s: %d cells x %d repetitions, results in %s\n", plan.Name, len(plan.Cells()), plan.Repetitions, dir)
	stopNotice := context.AfterFunc(ctx, func() {
		fmt.Fprintf(os.Stderr, ">> interrupted: stopping the broker and restoring the host (if this process is killed now, run lab restore)\n")
	})
	defer stopNotice()
	records, runErr := runner.Run(ctx)
	if len(records) == 0 {
		return "", runErr
	}
	if err := writeReports(dir, plan); err != nil {
		return dir, fmt.Errorf("%w (sweep: %v)", err, runErr)
	}
	return dir, runErr
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

// writeReports renders tables (terminal to stdout, tables.md), guide.md
// and charts/*.png from the run files in dir.
func writeReports(dir string, plan *tuning.Plan) error {
	recs, err := tuning.ReadRecords(dir)
	if err != nil {
		return err
	}
	a, err := report.Analyze(plan, recs)
	if err != nil {
		return err
	}
	if err := report.WriteTables(os.Stdout, a, report.Terminal); err != nil {
		return err
	}
	for name, write := range map[string]func(*os.File) error{
		"tables.md": func(f *os.File) error { return report.WriteTables(f, a, report.Markdown) },
		"guide.md":  func(f *os.File) error { return report.WriteGuide(f, a) },
	} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if err := write(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	charts, err := report.WriteCharts(filepath.Join(dir, "charts"), a)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, ">> wrote %s, %s and %d charts under %s\n", filepath.Join(dir, "tables.md"), filepath.Join(dir, "guide.md"),
		len(charts), filepath.Join(dir, "charts"))
	return nil
}

// printPlan prints a plan's cells and schedule (lab sweep -check).
func printPlan(p *tuning.Plan) error {
	fmt.Printf("plan %s: %d cells, %d repetitions, design %s, about %s\n", p.Name, len(p.Cells()), p.Repetitions, p.Design,
		(p.RunDuration() * time.Duration(len(p.Schedule()))).Round(time.Minute))
	for _, c := range p.Cells() {
		fmt.Printf("  %s %s\n", c.ID, c.Name)
	}
	var order []string
	for _, r := range p.Schedule() {
		order = append(order, r.Cell.ID)
	}
	fmt.Printf("schedule: %s\n", strings.Join(order, " "))
	if inv := p.Invocation; inv != nil {
		for _, o := range inv.Overrides {
			fmt.Printf("overridden: %s\n", o)
		}
		for _, s := range inv.Skipped {
			fmt.Printf("skipped on this host: %s\n", s)
		}
	}
	return nil
}

// executableDir is the directory of the running lab binary, where make
// puts the broker beside it.
func executableDir() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	exe, err = filepath.EvalSymlinks(exe)
	if err != nil {
		return "", err
	}
	return filepath.Dir(exe), nil
}
