// Package sweep runs a tuning plan the way lab sweep, lab ab and lab
// bench's plan stage do: load and override the plan, fit it to what this
// host allows, open the host journal, start the runner with the real parts
// (bin/broker through tuning.ExecBroker, the franz-go load generator, the
// probes), and render the tables, the guideline and the charts.
package sweep

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/brokerlab/brokerlab/internal/fsutil"
	"github.com/brokerlab/brokerlab/internal/profiling"
	"github.com/brokerlab/brokerlab/loadgen"
	"github.com/brokerlab/brokerlab/procsample"
	"github.com/brokerlab/brokerlab/tuning"
	"github.com/brokerlab/brokerlab/tuning/host"
	"github.com/brokerlab/brokerlab/tuning/report"
)

// Config is one sweep.
type Config struct {
	// PlanFile is the plan; Root the repository root its workload and
	// driver paths are relative to; Out the directory under which
	// <plan>-<timestamp>/ is written.
	PlanFile, Root, Out string
	// WorkDir holds loop files and mount points; WorkDirSet says the user
	// chose it (otherwise an unprivileged run uses $TMPDIR/brokerlab-<uid>).
	WorkDir    string
	WorkDirSet bool
	// StateDir is the host journal's directory ("" = the default).
	StateDir string
	// BrokerPath is bin/broker, BrokerConfig its server.properties;
	// BrokerUser, when set, runs it as that user.
	BrokerPath, BrokerConfig, BrokerUser string
	// NoProbes leaves the eBPF probes out; Unprivileged runs as without
	// root; Check prints the plan and what this host would skip, and
	// runs nothing.
	NoProbes, Unprivileged, Check bool
	// Overrides are the command line's changes to the plan.
	Overrides tuning.Overrides
	// Devices are the spare block devices the user allows to be formatted.
	Devices []string
	// Profiles and Pyroscope are tuning.RunnerConfig's: pprof profiles
	// saved of each run's broker, and a pyroscope server it sends
	// continuous profiles to.
	Profiles  []profiling.Kind
	Pyroscope string
	// Command is the command line, recorded in the result dir.
	Command string
	// Stdout receives the tables; Progress the ">>" lines.
	Stdout, Progress io.Writer
	Logger           *slog.Logger
}

// Run runs the sweep and returns the result dir ("" when nothing was
// written: Check, or an error before the first run).
func Run(ctx context.Context, cfg Config) (string, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	plan, err := tuning.LoadPlan(cfg.PlanFile)
	if err != nil {
		return "", err
	}
	if err := plan.CheckFiles(cfg.Root); err != nil {
		return "", err
	}
	if plan, err = plan.Override(cfg.Overrides); err != nil {
		return "", err
	}
	if inv := plan.Invocation; inv != nil && !cfg.Check {
		what := "the command line overrides the plan"
		if inv.Reduced {
			what = "reduced run: a smoke test, not a measurement"
		}
		fmt.Fprintf(cfg.Progress, ">> %s (%s); recorded in the result dir's plan.yaml and command.txt\n", what, strings.Join(inv.Overrides, "; "))
	}
	caps := tuning.DetectCapabilities("", "")
	if cfg.Unprivileged {
		caps = tuning.Capabilities{NoBPFReason: "-unprivileged"}
	}
	if cfg.NoProbes && caps.BPF {
		caps.BPF, caps.NoBPFReason = false, "-no-probes"
	}
	plan, skipped := plan.Degrade(caps)
	for _, s := range skipped {
		if !cfg.Check { // -check prints them with the plan
			fmt.Fprintf(cfg.Progress, ">> skipped: %s\n", s)
		}
	}
	if !caps.Mount && os.Geteuid() != 0 && !cfg.WorkDirSet {
		// The defaults under /var/lib are root's; the journal's default
		// moves to the same private base (host.Config).
		dir, err := host.UserStateBase()
		if err != nil {
			return "", err
		}
		if err := host.MakePrivateDir(dir); err != nil {
			return "", err
		}
		cfg.WorkDir = filepath.Join(dir, "work")
	}
	if plan.Invocation == nil {
		plan.Invocation = &tuning.Invocation{}
	}
	plan.Invocation.Command = cfg.Command
	if cfg.Check {
		return "", PrintPlan(cfg.Stdout, plan)
	}
	for _, d := range plan.Devices() {
		found := false
		for _, n := range cfg.Devices {
			found = found || n == d
		}
		if !found {
			return "", fmt.Errorf("plan %s formats device %s: name it with -device %s too, to confirm it holds nothing you need", plan.Name, d, d)
		}
	}
	w, err := loadgen.LoadWorkload(filepath.Join(cfg.Root, plan.Workload))
	if err != nil {
		return "", err
	}
	d, err := loadgen.LoadDriver(filepath.Join(cfg.Root, plan.Driver))
	if err != nil {
		return "", err
	}

	// The runs' brokers listen for clients on free ports and serve no
	// metrics, so a sweep never collides with another broker on this host.
	broker := tuning.ExecBroker{Path: cfg.BrokerPath, Config: cfg.BrokerConfig, Logger: cfg.Logger,
		Overrides: []string{"brokerlab.metrics.listen="}}
	if cfg.BrokerUser != "" {
		u, err := user.Lookup(cfg.BrokerUser)
		if err != nil {
			return "", fmt.Errorf("-broker-user %s: %w", cfg.BrokerUser, err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		broker.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}

	session, undone, err := host.Open(host.Config{StateDir: cfg.StateDir, NamedDevices: cfg.Devices, Logger: cfg.Logger})
	if err != nil {
		return "", err
	}
	for _, u := range undone {
		fmt.Fprintf(cfg.Progress, ">> restored from an earlier run: %s\n", u)
	}
	defer func() {
		if err := session.Close(); err != nil {
			fmt.Fprintf(cfg.Progress, ">> restoring the host: %v (run lab restore)\n", err)
		}
	}()

	env, envErr := procsample.ReadEnvironment(procsample.EnvConfig{})
	if envErr != nil {
		cfg.Logger.Warn("environment incomplete", "err", envErr)
	}
	env.Workload, env.Reduced = w.Name, plan.Invocation != nil && plan.Invocation.Reduced
	dir := filepath.Join(cfg.Out, plan.Name+"-"+time.Now().UTC().Format("20060102T150405Z"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "command.txt"), []byte(plan.Invocation.Command+"\n"), 0o644); err != nil {
		return "", err
	}
	broker.LogDir = filepath.Join(dir, "broker-logs")
	var sut tuning.Broker = broker
	brokerName := "bin/broker"
	if t := plan.Target; t != nil {
		sut = tuning.ExternalBroker{Spec: *t, Root: cfg.Root, RunDir: broker.LogDir, Logger: cfg.Logger}
		brokerName = t.Name + " (" + strings.Join(t.Command, " ") + ")"
		fmt.Fprintf(cfg.Progress, ">> the broker under test is %s\n", brokerName)
	}
	rc := tuning.RunnerConfig{
		Plan: plan, OutDir: dir, WorkDir: cfg.WorkDir, Host: session, NoCgroups: !caps.Cgroups,
		Broker:      sut,
		BrokerName:  brokerName,
		Load:        tuning.LoadgenLoad{Workload: w, Driver: d, Logger: cfg.Logger},
		Ceilings:    tuning.LoadgenCeilings{},
		Environment: env,
		Logger:      cfg.Logger,
		Profiles:    cfg.Profiles,
		Pyroscope:   cfg.Pyroscope,
		Progress: func(p tuning.Progress) {
			if p.Run == nil {
				fmt.Fprintf(cfg.Progress, ">> %d runs done in %s (%d failed)\n", p.Total, p.Elapsed.Round(time.Second), p.Failed)
				return
			}
			fmt.Fprintf(cfg.Progress, ">> run %d/%d: %s %s, repetition %d; about %s left\n",
				p.Done+1, p.Total, p.Run.Cell.ID, p.Run.Cell.Name, p.Run.Round, p.Left.Round(time.Second))
		},
	}
	if caps.BPF {
		rc.Probes = tuning.BPFProbes{Logger: cfg.Logger}
	}
	runner, err := tuning.NewRunner(rc)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(cfg.Progress, ">> plan %s: %d cells x %d repetitions, results in %s\n", plan.Name, len(plan.Cells()), plan.Repetitions, dir)
	stopNotice := context.AfterFunc(ctx, func() {
		fmt.Fprintf(cfg.Progress, ">> interrupted: stopping the broker and restoring the host (if this process is killed now, run lab restore)\n")
	})
	defer stopNotice()
	records, runErr := runner.Run(ctx)
	if len(records) == 0 {
		return "", runErr
	}
	if err := WriteReports(dir, plan, cfg.Stdout, cfg.Progress); err != nil {
		return dir, fmt.Errorf("%w (sweep: %v)", err, runErr)
	}
	return dir, runErr
}

// WriteReports renders tables (terminal to stdout, tables.md), guide.md
// and charts/*.png from the run files in dir, and says where to progress.
func WriteReports(dir string, plan *tuning.Plan, stdout, progress io.Writer) error {
	a, err := report.AnalyzeDir(dir, plan, procsample.ReadHostCaps("/proc", "/sys", "/lib/modules"))
	if err != nil {
		return err
	}
	if err := report.WriteTables(stdout, a, report.Terminal); err != nil {
		return err
	}
	for name, write := range map[string]func(*os.File) error{
		"tables.md": func(f *os.File) error { return report.WriteTables(f, a, report.Markdown) },
		"guide.md":  func(f *os.File) error { return report.WriteGuide(f, a) },
	} {
		if err := fsutil.WriteFileWith(filepath.Join(dir, name), write); err != nil {
			return err
		}
	}
	charts, err := report.WriteCharts(filepath.Join(dir, "charts"), a)
	if err != nil {
		return err
	}
	applied, err := report.WriteApply(dir, a)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		fmt.Fprintf(progress, ">> the findings as files to apply: %s\n", strings.Join(applied, ", "))
	}
	fmt.Fprintf(progress, ">> wrote %s, %s and %d charts under %s\n", filepath.Join(dir, "tables.md"), filepath.Join(dir, "guide.md"),
		len(charts), filepath.Join(dir, "charts"))
	return nil
}

// PrintPlan prints a plan's cells and schedule (lab sweep -check).
func PrintPlan(w io.Writer, p *tuning.Plan) error {
	if q := p.Sequential; q != nil {
		fmt.Fprintf(w, "plan %s: %d cells, %d to %d repetitions (sequential: stops when its targets are met or within its budget of %s), design %s\n",
			p.Name, len(p.Cells()), q.MinRepetitions, p.Repetitions, q.Budget, p.Design)
	} else {
		fmt.Fprintf(w, "plan %s: %d cells, %d repetitions, design %s, about %s\n", p.Name, len(p.Cells()), p.Repetitions, p.Design,
			(p.RunDuration() * time.Duration(len(p.Schedule()))).Round(time.Minute))
	}
	for _, c := range p.Cells() {
		fmt.Fprintf(w, "  %s %s\n", c.ID, c.Name)
	}
	var order []string
	for _, r := range p.Schedule() {
		order = append(order, r.Cell.ID)
	}
	fmt.Fprintf(w, "schedule: %s\n", strings.Join(order, " "))
	if inv := p.Invocation; inv != nil {
		for _, o := range inv.Overrides {
			fmt.Fprintf(w, "overridden: %s\n", o)
		}
		for _, s := range inv.Skipped {
			fmt.Fprintf(w, "skipped on this host: %s\n", s)
		}
	}
	return nil
}
