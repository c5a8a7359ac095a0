package bench

import (
	"context"
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

	var ceilings *loadgen.Ceilings
	if want["ceilings"] {
		fmt.Fprintf(cfg.Progress, ">> ceilings of %s (disk write, write+fsync, sendfile and TCP over loopback)\n", work)
		c, err := loadgen.MeasureCeilings(ctx, work, loadgen.CeilingOptions{})
		if err != nil {
			return fmt.Errorf("measuring ceilings: %w", err)
		}
		ceilings = c
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

	if want["versus"] {
		rdk, err := rdkperf.Find(filepath.Dir(bin))
		if err != nil {
			return err
		}
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
							line := fmt.Sprintf("Broker fetch: %.1f MB/s = %.0f%% of this machine's sendfile-over-loopback ceiling (%.1f MB/s).",
								s.Broker, 100*s.Broker/ceilings.SendfileMBps, ceilings.SendfileMBps)
							fmt.Println(line)
							fmt.Fprintf(md, "\n%s\n", line)
						}
					}
				}
				fmt.Fprintln(md)
			}
		}
		if runErr != nil {
			return runErr
		}
	}

	if want["load"] {
		if err := RunLoad(ctx, LoadConfig{BrokerPath: filepath.Join(bin, "broker"), WorkDir: filepath.Join(work, "load"),
			WorkloadPath: filepath.Join(cfg.Root, cfg.Workload), DriverPath: filepath.Join(cfg.Root, cfg.Driver),
			Measure: cfg.Measure, SearchMax: cfg.SearchMax, BrokerProps: cfg.Overrides, Ceilings: ceilings,
			Progress: cfg.Progress, Logger: cfg.Logger.With("component", "loadgen")}, runDir, cfg.Stdout, md); err != nil {
			return err
		}
	}
	if want["plan"] {
		fmt.Fprintf(cfg.Progress, ">> tuning plan %s\n", cfg.PlanFile)
		args := []string{"-plan", filepath.Join(cfg.Root, cfg.PlanFile), "-root", cfg.Root, "-out", runDir,
			"-config", filepath.Join(cfg.Root, "config", "server.properties")}
		args = append(args, cfg.PlanArgs...)
		dir, err := cfg.Plan(ctx, args)
		if dir != "" {
			fmt.Fprintf(md, "## Tuning plan %s\n\nTables, guideline and run files: [%s](%s/).\n", cfg.PlanFile, filepath.Base(dir), filepath.Base(dir))
		}
		if err != nil {
			return fmt.Errorf("plan %s: %w", cfg.PlanFile, err)
		}
	}
	fmt.Fprintf(cfg.Progress, ">> results in %s\n", runDir)
	return nil
}
