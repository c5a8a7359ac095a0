package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/brokerlab/brokerlab/internal/launch"
	"github.com/brokerlab/brokerlab/internal/rdkperf"
	"github.com/brokerlab/brokerlab/internal/versus"
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
	fs := flag.NewFlagSet("lab bench", flag.ExitOnError)
	out := fs.String("out", "results", "directory under which results/<timestamp>/ is written")
	root := fs.String("root", ".", "repository root (workloads/ is read from it)")
	stages := fs.String("stages", strings.Join(benchStages, ","), "stages to run, comma-separated: "+strings.Join(benchStages, ", "))
	pairs := fs.Int("pairs", 5, "versus: interleaved broker/kfake rounds")
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
	var overrides multiFlag
	fs.Var(&overrides, "override", "extra broker server.properties line key=value (repeatable)")
	_ = fs.Parse(args)

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
	runDir, err := newRunDir(*out, "")
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
	env := environment()
	fmt.Fprintf(md, "# lab bench %s\n\nCommand: `%s`\n\nMachine: %s, kernel %s, host %s.\n\n",
		filepath.Base(runDir), strings.Join(os.Args, " "), env["cpu"], env["kernel"], env["host"])

	var ceilings *loadgen.Ceilings
	if want["ceilings"] {
		fmt.Fprintf(os.Stderr, ">> ceilings of %s (disk write, write+fsync, sendfile and TCP over loopback)\n", work)
		c, err := loadgen.MeasureCeilings(ctx, work, loadgen.CeilingOptions{})
		if err != nil {
			return fmt.Errorf("measuring ceilings: %w", err)
		}
		ceilings = c
		if err := writeJSON(filepath.Join(runDir, "ceilings.json"), c); err != nil {
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
		rep, runErr := versus.Run(ctx, versus.Config{
			BrokerPath: filepath.Join(bin, "broker"), KfakePath: filepath.Join(bin, "kfake"), RdkPerfPath: rdk,
			WorkDir: filepath.Join(work, "versus"), Pairs: *pairs, Records: *records, Size: *size,
			BrokerOverrides: overrides, Logger: logger.With("component", "versus"),
		})
		if rep != nil {
			if err := saveRun(runDir, "versus.json", rep); err != nil {
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
		if err := benchLoad(ctx, logger, bin, filepath.Join(work, "load"), runDir, md, ceilings,
			filepath.Join(*root, *loadWorkload), filepath.Join(*root, *loadDriver), *measure, *searchMax, overrides); err != nil {
			return err
		}
	}
	if want["plan"] {
		fmt.Fprintf(os.Stderr, ">> tuning plan %s\n", *plan)
		args := []string{"-plan", filepath.Join(*root, *plan), "-root", *root, "-out", runDir,
			"-config", filepath.Join(*root, "config", "server.properties")}
		args = append(args, "-profile", *profile, "-pyroscope", *pyroscope)
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

// benchLoad runs the franz-go load generator against the broker twice: a
// max-rate search with a short measured window, then a run at half the
// maximum sustainable rate, where latency means something.
func benchLoad(ctx context.Context, logger *slog.Logger, bin, work, runDir string, md *os.File, ceilings *loadgen.Ceilings,
	workloadPath, driverPath string, measure, searchMax time.Duration, overrides []string) error {
	w, err := loadgen.LoadWorkload(workloadPath)
	if err != nil {
		return err
	}
	d, err := loadgen.LoadDriver(driverPath)
	if err != nil {
		return err
	}
	addr, err := launch.FreeAddr()
	if err != nil {
		return err
	}
	logDir := filepath.Join(work, "data")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	props := filepath.Join(work, "server.properties")
	body := fmt.Sprintf("node.id=1\nlisteners=PLAINTEXT://%s\nlog.dirs=%s\n", addr, logDir)
	for _, o := range overrides {
		body += o + "\n"
	}
	if err := os.WriteFile(props, []byte(body), 0o644); err != nil {
		return err
	}
	p, err := launch.Start(ctx, launch.Spec{Name: "broker", Path: filepath.Join(bin, "broker"), Args: []string{props},
		Addr: addr, LogFile: filepath.Join(work, "broker.log")})
	if err != nil {
		return err
	}
	defer p.Stop(time.Minute)

	secs := int(measure / time.Second)
	w.TestDurationMinutes, w.TestDurationSeconds = 0, secs
	w.WarmupDurationMinutes, w.WarmupDurationSeconds = 0, max(1, min(5, secs/4))
	opts := loadgen.Options{Brokers: []string{addr}, Progress: os.Stderr, Logger: logger.With("component", "loadgen"),
		Target: loadgen.Target{Brokers: []string{addr}, Name: "brokerlab broker"}, LogDir: logDir, Ceilings: ceilings,
		SearchMaxDuration: searchMax}

	fmt.Fprintf(os.Stderr, ">> load: maximum sustainable rate (%s)\n", w.Name)
	opts.Label = "max rate"
	maxRes, err := loadgen.Run(ctx, w, d, opts)
	if err != nil {
		return fmt.Errorf("max-rate run: %w", err)
	}
	if maxRes.RateSearch == nil || maxRes.RateSearch.MaxSustainable <= 0 {
		return errors.New("max-rate run found no sustainable rate")
	}
	half := w
	half.ProducerRate = maxRes.RateSearch.MaxSustainable / 2
	half.Name = w.Name + " at 50% of max"
	fmt.Fprintf(os.Stderr, ">> load: latency at half the maximum (%.0f msg/s)\n", half.ProducerRate)
	opts.Label = "50% of max"
	halfRes, err := loadgen.Run(ctx, half, d, opts)
	if err != nil {
		return fmt.Errorf("half-rate run: %w", err)
	}
	for name, r := range map[string]*loadgen.Result{"load-max.json": maxRes, "load-half.json": halfRes} {
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(runDir, name), append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	results := []*loadgen.Result{maxRes, halfRes}
	if err := loadgen.RenderTable(os.Stdout, results, false); err != nil {
		return err
	}
	fmt.Fprintf(md, "## franz-go load generator against the broker (%s, driver %s)\n\n", w.Name, d.Name)
	fmt.Fprintf(md, "Maximum sustainable rate: %.0f msg/s (%s). The second run holds half of it.\n\n",
		maxRes.RateSearch.MaxSustainable, maxRes.RateSearch.Method)
	if err := loadgen.RenderTable(md, results, true); err != nil {
		return err
	}
	if files, err := loadgen.WriteCharts(runDir, results); err == nil {
		fmt.Fprintln(md)
		for _, f := range files {
			fmt.Fprintf(md, "![%s](%s)\n", filepath.Base(f), filepath.Base(f))
		}
	}
	fmt.Fprintln(md)
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

// newRunDir creates out/<UTC timestamp><suffix>, the directory of one
// run's results.
func newRunDir(out, suffix string) (string, error) {
	dir := filepath.Join(out, time.Now().UTC().Format("20060102T150405Z")+suffix)
	return dir, os.MkdirAll(dir, 0o755)
}

// saveRun writes dir/name holding the command line, the environment and
// the report, so every result file says how to reproduce it and where it
// was measured.
func saveRun(dir, name string, report any) error {
	return writeJSON(filepath.Join(dir, name), struct {
		Command     string            `json:"command"`
		Environment map[string]string `json:"environment"`
		Report      any               `json:"report"`
	}{strings.Join(os.Args, " "), environment(), report})
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// environment records what a result depends on: kernel, CPU, host.
func environment() map[string]string {
	env := map[string]string{}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		env["kernel"] = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				env["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if h, err := os.Hostname(); err == nil {
		env["host"] = h
	}
	return env
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
