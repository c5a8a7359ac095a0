package bench

import (
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
	// Stdout receives the tables, Progress the ">>" lines.
	Stdout, Progress io.Writer
	Logger           *slog.Logger
}

// RunSuite runs lab bench.
func RunSuite(ctx context.Context, cfg SuiteConfig) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
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
	md, err := os.Create(filepath.Join(runDir, "README.md"))
	if err != nil {
		return err
	}
	defer md.Close()
	env := Environment(work)
	fmt.Fprintf(md, "# lab bench %s\n\nCommand: `%s`\n\nMachine: %s, kernel %s, host %s.\n\n",
		filepath.Base(runDir), strings.Join(os.Args, " "), env.CPUModel, env.Kernel, env.Hostname)

	sk := skips{progress: cfg.Progress}
	var ceilings *loadgen.Ceilings
	if want["ceilings"] {
		fmt.Fprintf(cfg.Progress, ">> ceilings of %s (disk write, write+fsync, sendfile and TCP over loopback)\n", work)
		c, err := loadgen.MeasureCeilings(ctx, work, loadgen.CeilingOptions{})
		if err != nil {
			sk.fail("ceilings", fmt.Errorf("measuring ceilings: %w", err))
		}
		ceilings = c
	}
	if ceilings != nil {
		c := ceilings
		if err := WriteJSON(filepath.Join(runDir, "ceilings.json"), c); err != nil {
			return err
		}
		if err := loadgen.RenderCeilings(cfg.Stdout, c, false); err != nil {
			return err
		}
		fmt.Fprintf(md, "## Ceilings of this machine\n\n")
		if err := loadgen.RenderCeilings(md, c, true); err != nil {
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
				if err := rep.WriteTable(cfg.Stdout, false); err != nil {
					return err
				}
				fmt.Fprintf(md, "## Broker vs kfake (rdkafka_performance, %d records of %d bytes, %d interleaved pairs)\n\n", cfg.Records, cfg.Size, cfg.Repetitions)
				if err := rep.WriteTable(md, true); err != nil {
					return err
				}
				if ceilings != nil && ceilings.SendfileMBps > 0 {
					for _, s := range rep.Summaries() {
						if s.Metric == "consume MB/s" {
							line := fmt.Sprintf("Broker fetch: %.1f MB/s: %s (this machine's sendfile-over-loopback ceiling, %.1f MB/s).",
								s.Broker, ceilings.ShareText("sendfile", s.Broker), ceilings.SendfileMBps)
							fmt.Println(line)
							fmt.Fprintf(md, "\n%s\n", line)
						}
					}
				}
				fmt.Fprintln(md)
			}
		}
		if runErr != nil {
			sk.fail("versus", runErr)
		}
	}

	if want["load"] {
		if err := RunLoad(ctx, LoadConfig{BrokerPath: filepath.Join(bin, "broker"), WorkDir: filepath.Join(work, "load"),
			WorkloadPath: filepath.Join(cfg.Root, cfg.Workload), DriverPath: filepath.Join(cfg.Root, cfg.Driver),
			Measure: cfg.Measure, SearchMax: cfg.SearchMax, BrokerProps: cfg.Overrides, Ceilings: ceilings,
			Progress: cfg.Progress, Logger: cfg.Logger.With("component", "loadgen")}, runDir, cfg.Stdout, md); err != nil {
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
			fmt.Fprintf(md, "## Tuning plan %s\n\nTables, guideline and run files: [%s](%s/).\n", cfg.PlanFile, filepath.Base(dir), filepath.Base(dir))
		}
		if err != nil {
			sk.fail("plan", fmt.Errorf("plan %s: %w", cfg.PlanFile, err))
		}
	}
	sk.report(md)
	fmt.Fprintf(cfg.Progress, ">> results in %s\n", runDir)
	return sk.err()
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
	enable := "sudo make bench"
	if os.Geteuid() == 0 {
		enable = "make deps && make bench"
	}
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

func (s *skips) err() error { return errors.Join(s.failed...) }
