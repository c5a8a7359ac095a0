package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/brokerlab/brokerlab/internal/rdkperf"
	"github.com/brokerlab/brokerlab/internal/versus"
)

func init() {
	register("bench", command{
		summary: "the main job (make bench): broker vs kfake with rdkafka_performance, results under -out",
		run:     runBench,
	})
}

func runBench(ctx context.Context, logger *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("lab bench", flag.ExitOnError)
	out := fs.String("out", "results", "directory under which results/<timestamp>/ is written")
	pairs := fs.Int("pairs", 5, "interleaved broker/kfake rounds")
	records := fs.Int64("records", 500_000, "records per produce and consume pass")
	size := fs.Int("size", 1024, "record size in bytes")
	var overrides multiFlag
	fs.Var(&overrides, "override", "extra broker server.properties line key=value (repeatable)")
	_ = fs.Parse(args)

	bin, err := binDir()
	if err != nil {
		return err
	}
	rdk, err := rdkperf.Find(filepath.Dir(bin))
	if err != nil {
		return err
	}
	runDir := filepath.Join(*out, time.Now().UTC().Format("20060102T150405Z"))
	work, err := os.MkdirTemp("", "brokerlab-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return err
	}
	cfg := versus.Config{
		BrokerPath: filepath.Join(bin, "broker"), KfakePath: filepath.Join(bin, "kfake"), RdkPerfPath: rdk,
		WorkDir: work, Pairs: *pairs, Records: *records, Size: *size, BrokerOverrides: overrides,
		Logger: logger.With("component", "versus"),
	}
	fmt.Fprintf(os.Stderr, ">> broker vs kfake: %d interleaved pairs, %d records of %d bytes each way\n", *pairs, *records, *size)
	rep, runErr := versus.Run(ctx, cfg)
	if rep == nil {
		return runErr
	}
	if err := writeJSON(filepath.Join(runDir, "versus.json"), struct {
		Command     string            `json:"command"`
		Environment map[string]string `json:"environment"`
		Report      *versus.Report    `json:"report"`
	}{strings.Join(os.Args, " "), environment(), rep}); err != nil {
		return err
	}
	if len(rep.Samples) >= 2 {
		if err := rep.WriteTable(os.Stdout, false); err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(runDir, "versus.md"))
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(f, "# broker vs kfake (rdkafka_performance, %d records of %d bytes, %d interleaved pairs)\n\n", *records, *size, *pairs)
		if err := rep.WriteTable(f, true); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, ">> results in %s\n", runDir)
	return runErr
}

// binDir is the directory of the running lab executable, where make puts
// the broker, kfake and rdkafka_performance beside it.
func binDir() (string, error) {
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

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// environment records what a result depends on: kernel, CPU, Go.
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
