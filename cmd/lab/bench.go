package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/brokerlab/brokerlab/bench"
	"github.com/brokerlab/brokerlab/internal/rdkperf"
	"github.com/brokerlab/brokerlab/loadgen"
)

func init() {
	register("bench", command{
		summary: "the main job (make bench): ceilings, broker vs kfake, max rate and half of it, the quick tuning plan",
		run:     runBench,
	})
}

// benchStages are the parts of lab bench, in the order they run.
var benchStages = []string{"ceilings", "versus", "load", "plan"}

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
	var overrides stringList
	fs.Var(&overrides, "override", "extra broker server.properties line key=value (repeatable)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}

	want := map[string]bool{}
	for _, s := range strings.Split(*stages, ",") {
		if !contains(benchStages, s) {
			return fmt.Errorf("-stages: unknown stage %q (want some of %s)", s, strings.Join(benchStages, ", "))
		}
		want[s] = true
	}
	bin, err := executableDir()
	if err != nil {
		return err
	}
	runDir, err := bench.NewRunDir(*out, "")
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
	env := bench.Environment(work)
	fmt.Fprintf(md, "# lab bench %s\n\nCommand: `%s`\n\nMachine: %s, kernel %s, host %s.\n\n",
		filepath.Base(runDir), strings.Join(os.Args, " "), env.CPUModel, env.Kernel, env.Hostname)

	var ceilings *loadgen.Ceilings
	if want["ceilings"] {
		fmt.Fprintf(os.Stderr, ">> ceilings of %s (disk write, write+fsync, sendfile and TCP over loopback)\n", work)
		c, err := loadgen.MeasureCeilings(ctx, work, loadgen.CeilingOptions{})
		if err != nil {
			return fmt.Errorf("measuring ceilings: %w", err)
		}
		ceilings = c
		if err := bench.WriteJSON(filepath.Join(runDir, "ceilings.json"), c); err != nil {
			return err
		}
		if err := loadgen.RenderCeilings(os.Stdout, c, false); err != nil {
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
		fmt.Fprintf(os.Stderr, ">> broker vs kfake: %d interleaved pairs, %d records of %d bytes each way (rdkafka_performance)\n", *pairs, *records, *size)
		rep, runErr := bench.RunVersus(ctx, bench.VersusConfig{
			BrokerPath: filepath.Join(bin, "broker"), KfakePath: filepath.Join(bin, "kfake"), RdkPerfPath: rdk,
			WorkDir: filepath.Join(work, "versus"), Pairs: *pairs, Records: *records, Size: *size,
			BrokerOverrides: overrides, Logger: logger.With("component", "versus"),
		})
		if rep != nil {
			if err := bench.SaveRun(runDir, "versus.json", work, rep); err != nil {
				return err
			}
			if len(rep.Samples) >= 2 {
				if err := rep.WriteTable(os.Stdout, false); err != nil {
					return err
				}
				fmt.Fprintf(md, "## Broker vs kfake (rdkafka_performance, %d records of %d bytes, %d interleaved pairs)\n\n", *records, *size, *pairs)
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
		if err := bench.RunLoad(ctx, bench.LoadConfig{BrokerPath: filepath.Join(bin, "broker"), WorkDir: filepath.Join(work, "load"),
			WorkloadPath: filepath.Join(*root, *loadWorkload), DriverPath: filepath.Join(*root, *loadDriver),
			Measure: *measure, SearchMax: *searchMax, BrokerProps: overrides, Ceilings: ceilings,
			Progress: os.Stderr, Logger: logger.With("component", "loadgen")}, runDir, os.Stdout, md); err != nil {
			return err
		}
	}
	if want["plan"] {
		fmt.Fprintf(os.Stderr, ">> tuning plan %s\n", *plan)
		args := []string{"-plan", filepath.Join(*root, *plan), "-root", *root, "-out", runDir,
			"-config", filepath.Join(*root, "config", "server.properties")}
		args = append(args, strings.Fields(*planArgs)...)
		dir, err := runPlanArgs(ctx, logger, "lab bench", *plan, args)
		if dir != "" {
			fmt.Fprintf(md, "## Tuning plan %s\n\nTables, guideline and run files: [%s](%s/).\n", *plan, filepath.Base(dir), filepath.Base(dir))
		}
		if err != nil {
			return fmt.Errorf("plan %s: %w", *plan, err)
		}
	}
	fmt.Fprintf(os.Stderr, ">> results in %s\n", runDir)
	return nil
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
