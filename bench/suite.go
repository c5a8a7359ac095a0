package bench

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/brokerlab/brokerlab/internal/rdkperf"
	"github.com/brokerlab/brokerlab/loadgen"
	"github.com/brokerlab/brokerlab/tuning/report"
)

// Stages are the parts of lab bench (RunSuite), in the order they run.
var Stages = []string{"ceilings", "versus", "load", "plan"}

// SuiteConfig is one lab bench: the machine's ceilings, the broker against
// kfake, the load generator's max rate and half of it, and a tuning plan,
// all written under Out/<timestamp>/ with a README.md of the tables.
type SuiteConfig struct {
	// Out is where the run directory is made; Root the repository (the
	// workload, driver, plan and config paths are relative to it); BinDir
	// holds broker, kfake and rdkafka_performance.
	Out, Root, BinDir string
	// Stages to run, some of Stages.
	Stages []string
	// Versus: Repetitions interleaved pairs of Records records of Size bytes.
	Repetitions int
	Records     int64
	Size        int
	// Load: the max-rate Workload and Driver, Measure per run, SearchMax
	// for the max-rate search.
	Workload, Driver   string
	Measure, SearchMax time.Duration
	// Plan: PlanFile with extra sweep flags PlanArgs, run by Plan (the
	// sweep's flag parser and runner), which returns the result dir.
	PlanFile string
	PlanArgs []string
	Plan     func(ctx context.Context, args []string) (string, error)
	// Profile and Pyroscope are the plan's lab sweep -profile (pprof
	// profiles of each run's broker: cpu,heap,mutex,block) and -pyroscope
	// (a server for the brokers' continuous profiles); "" for none.
	Profile, Pyroscope string
	// Overrides are extra broker server.properties lines.
	Overrides []string
	// CeilingRuns is how many times the ceilings are measured (default
	// 3), so that a share of a ceiling comes with the ceiling's spread.
	CeilingRuns int
	// Command is the command line, recorded in the README (default
	// os.Args joined).
	Command string
	// Note is a remark on the conditions (a shared machine, ...), put in
	// the summary and the README.
	Note string
	// Stdout receives the results (the plan's tables, the summary last),
	// fitted to Width columns (default report.DefaultWidth); Progress the
	// ">>" lines.
	Stdout, Progress io.Writer
	Width            int
	Logger           *slog.Logger
}

// RunSuite runs lab bench. Stdout gets results only: the plan's tables and,
// last, the Summary; the stages' full tables go to the run's README.md,
// under the summary.
func RunSuite(ctx context.Context, cfg SuiteConfig) (err error) {
	orDefault(&cfg.Logger, slog.New(slog.DiscardHandler))
	orDefault(&cfg.Stdout, io.Discard)
	orDefault(&cfg.Progress, io.Discard)
	orDefault(&cfg.CeilingRuns, 3)
	orDefault(&cfg.Width, report.DefaultWidth)
	want := map[string]bool{}
	for _, s := range cfg.Stages {
		if !slices.Contains(Stages, s) {
			return fmt.Errorf("-stages: unknown stage %q (want some of %s)", s, strings.Join(Stages, ", "))
		}
		want[s] = true
	}
	bin := cfg.BinDir
	runDir, err := NewRunDir(cfg.Out, "")
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "brokerlab-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if cfg.Command == "" {
		cfg.Command = strings.Join(os.Args, " ")
	}
	sum := &Summary{RunDir: runDir, Env: Environment(work), Note: cfg.Note, Command: cfg.Command}
	// The README is written last, with the summary on top; md collects the
	// stages' sections meanwhile.
	md := &bytes.Buffer{}
	sk := skips{progress: cfg.Progress}
	defer func() {
		if werr := writeReadme(runDir, sum, md); werr != nil && err == nil {
			err = werr
		}
	}()

	if want["ceilings"] {
		fmt.Fprintf(cfg.Progress, ">> ceilings of %s, %d runs (disk write, write+fsync, sendfile and TCP over loopback)\n", work, cfg.CeilingRuns)
		for i := range cfg.CeilingRuns {
			c, err := loadgen.MeasureCeilings(ctx, work, loadgen.CeilingOptions{})
			if err != nil {
				sk.fail("ceilings", fmt.Errorf("measuring ceilings (run %d): %w", i+1, err))
				break
			}
			sum.Ceilings = append(sum.Ceilings, c)
		}
	}
	// ceilings is the run with the median sendfile ceiling: a measurement,
	// not a blend, put beside the load results.
	var ceilings *loadgen.Ceilings
	if len(sum.Ceilings) > 0 {
		sorted := slices.Clone(sum.Ceilings)
		slices.SortFunc(sorted, func(a, b *loadgen.Ceilings) int { return cmp.Compare(a.SendfileMBps, b.SendfileMBps) })
		ceilings = sorted[len(sorted)/2]
		if err := WriteJSON(filepath.Join(runDir, "ceilings.json"), ceilings); err != nil {
			return err
		}
		if err := WriteJSON(filepath.Join(runDir, "ceilings-runs.json"), sum.Ceilings); err != nil {
			return err
		}
		fmt.Fprintf(md, "## Ceilings of this machine\n\nThe run with the median sendfile ceiling of %d (every run: `ceilings-runs.json`).\n\n", len(sum.Ceilings))
		if err := loadgen.RenderCeilings(md, ceilings, true); err != nil {
			return err
		}
		fmt.Fprintln(md)
	}

	rdk, rdkErr := rdkperf.Find(filepath.Dir(bin))
	if _, err := os.Stat(filepath.Join(bin, "kfake")); err != nil && rdkErr == nil {
		rdkErr = fmt.Errorf("kfake not found beside lab: %w", err)
	}
	if want["versus"] && rdkErr != nil {
		sk.skip("versus", rdkErr.Error())
	} else if want["versus"] {
		fmt.Fprintf(cfg.Progress, ">> broker vs kfake: %d interleaved pairs, %d records of %d bytes each way (rdkafka_performance)\n", cfg.Repetitions, cfg.Records, cfg.Size)
		rep, runErr := RunVersus(ctx, VersusConfig{
			BrokerPath: filepath.Join(bin, "broker"), KfakePath: filepath.Join(bin, "kfake"), RdkPerfPath: rdk,
			WorkDir: filepath.Join(work, "versus"), Pairs: cfg.Repetitions, Records: cfg.Records, Size: cfg.Size,
			BrokerOverrides: cfg.Overrides, Logger: cfg.Logger.With("component", "versus"),
		})
		if rep != nil {
			if err := SaveRun(runDir, "versus.json", work, rep); err != nil {
				return err
			}
			if len(rep.Samples) >= 2 {
				sum.Versus = rep
				fmt.Fprintf(md, "## Broker vs kfake (rdkafka_performance, %d records of %d bytes, %d interleaved pairs)\n\n", cfg.Records, cfg.Size, cfg.Repetitions)
				if err := rep.WriteTable(md, true); err != nil {
					return err
				}
				fmt.Fprintln(md)
			}
		}
		if runErr != nil {
			sk.fail("versus", runErr)
		}
	}

	if want["load"] {
		maxRes, halfRes, err := RunLoad(ctx, LoadConfig{BrokerPath: filepath.Join(bin, "broker"), WorkDir: filepath.Join(work, "load"),
			WorkloadPath: filepath.Join(cfg.Root, cfg.Workload), DriverPath: filepath.Join(cfg.Root, cfg.Driver),
			Measure: cfg.Measure, SearchMax: cfg.SearchMax, BrokerProps: cfg.Overrides, Ceilings: ceilings,
			Progress: cfg.Progress, Logger: cfg.Logger.With("component", "loadgen")}, runDir, io.Discard, md)
		sum.LoadMax, sum.LoadHalf = maxRes, halfRes
		if err != nil {
			sk.fail("load", err)
		}
	}
	if want["plan"] {
		if os.Geteuid() != 0 {
			sk.degrade("plan", "without root the plan leaves out what needs it (loop filesystems, drop_caches, probes): see the \">> skipped:\" lines above")
		}
		fmt.Fprintf(cfg.Progress, ">> tuning plan %s\n", cfg.PlanFile)
		args := []string{"-plan", filepath.Join(cfg.Root, cfg.PlanFile), "-root", cfg.Root, "-out", runDir,
			"-config", filepath.Join(cfg.Root, "config", "server.properties")}
		if cfg.Profile != "" {
			args = append(args, "-profile", cfg.Profile)
		}
		if cfg.Pyroscope != "" {
			args = append(args, "-pyroscope", cfg.Pyroscope)
		}
		args = append(args, cfg.PlanArgs...)
		dir, err := cfg.Plan(ctx, args)
		if dir != "" {
			fmt.Fprintf(md, "## Tuning plan %s\n\nTables, guideline, charts and run files: [%s](%s/).\n\n", cfg.PlanFile, filepath.Base(dir), filepath.Base(dir))
			charts, _ := filepath.Glob(filepath.Join(dir, "charts", "*.png"))
			for _, c := range charts {
				rel := filepath.Join(filepath.Base(dir), "charts", filepath.Base(c))
				fmt.Fprintf(md, "![%s](%s)\n", strings.TrimSuffix(filepath.Base(c), ".png"), rel)
			}
			fmt.Fprintln(md)
			if out, perr := ReadPlanOutcome(dir); perr != nil {
				sk.fail("plan", fmt.Errorf("reading the plan's runs: %w", perr))
			} else {
				sum.Plan = out
			}
		}
		if err != nil {
			sk.fail("plan", fmt.Errorf("plan %s: %w", cfg.PlanFile, err))
		}
	}
	sk.report(md)
	sum.Skipped, sum.Reduced, sum.Enable = sk.skipped, sk.degraded, sk.enable()
	for _, e := range sk.failed {
		sum.Failed = append(sum.Failed, e.Error())
	}
	sum.Files = runFiles(runDir)
	if err := sum.Render(cfg.Stdout, cfg.Width); err != nil {
		return err
	}
	fmt.Fprintf(cfg.Progress, ">> results in %s\n", runDir)
	return sk.err()
}

// writeReadme writes the run's README.md: the command, the summary (at
// DefaultWidth, in a text block), then the stages' sections.
func writeReadme(runDir string, sum *Summary, body *bytes.Buffer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# lab bench %s\n\nCommand: `%s`\n\n", filepath.Base(runDir), sum.Command)
	if sum.Note != "" {
		fmt.Fprintf(&b, "**Conditions:** %s\n\n", sum.Note)
	}
	b.WriteString("## Summary\n\n```text\n")
	if err := sum.Render(&b, report.DefaultWidth); err != nil {
		return err
	}
	b.WriteString("```\n\n")
	b.Write(body.Bytes())
	return os.WriteFile(filepath.Join(runDir, "README.md"), b.Bytes(), 0o644)
}

// runFiles lists what a reader opens in a run dir: the result files and
// charts at the top, and each plan's tables, guide and charts.
func runFiles(runDir string) []string {
	entries, err := os.ReadDir(runDir)
	if err != nil {
		return nil
	}
	var files []string
	for _, e := range entries {
		switch {
		case e.IsDir():
			if _, err := os.Stat(filepath.Join(runDir, e.Name(), "tables.md")); err == nil {
				files = append(files, e.Name()+"/{tables.md,guide.md,charts/}")
			}
		case e.Name() != "README.md":
			files = append(files, e.Name())
		}
	}
	return files
}

// skips collects the stages lab bench skipped or ran reduced for want of a
// prerequisite (root, a client), and those that failed, so the run goes on
// with every stage it can and says at the end what is missing.
type skips struct {
	progress          io.Writer
	skipped, degraded []string
	failed            []error
}

func (s *skips) skip(stage, why string) {
	fmt.Fprintf(s.progress, ">> skipping %s: %s\n", stage, why)
	s.skipped = append(s.skipped, stage+": "+why)
}

func (s *skips) degrade(stage, why string) { s.degraded = append(s.degraded, stage+": "+why) }

func (s *skips) fail(stage string, err error) {
	fmt.Fprintf(s.progress, ">> %s failed: %v\n", stage, err)
	s.failed = append(s.failed, fmt.Errorf("stage %s: %w", stage, err))
}

// report prints the skipped and reduced stages and the one command that
// would run them: make bench as root installs the missing packages (make
// deps) and builds rdkafka_performance (make tools) before the bench.
func (s *skips) report(md io.Writer) {
	if len(s.skipped)+len(s.degraded) == 0 {
		return
	}
	enable := s.enable()
	var b strings.Builder
	for _, l := range s.skipped {
		fmt.Fprintf(&b, "- skipped %s\n", l)
	}
	for _, l := range s.degraded {
		fmt.Fprintf(&b, "- reduced %s\n", l)
	}
	fmt.Fprintf(s.progress, ">> stages not run in full:\n%s>> to run them: %s\n", b.String(), enable)
	fmt.Fprintf(md, "## Stages not run in full\n\n%s\nTo run them: `%s`.\n", b.String(), enable)
}

// enable is the one command that runs what was skipped or reduced: make
// bench as root installs the missing packages (make deps) and builds
// rdkafka_performance (make tools) before the bench.
func (s *skips) enable() string {
	if os.Geteuid() == 0 {
		return "make deps && make bench"
	}
	return "sudo make bench"
}

func (s *skips) err() error { return errors.Join(s.failed...) }
