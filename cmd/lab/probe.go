package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/brokerlab/brokerlab/bpf"
	"github.com/brokerlab/brokerlab/bpf/watch"
)

func init() {
	if os.Getenv(watch.ExecWaitEnv) == "1" {
		watch.ExecWhenReleased() // lab probe -- command: the gated child
	}
}

func runProbe(ctx context.Context, logger *slog.Logger, args []string) error {
	return probeTo(ctx, logger, args, os.Stdout)
}

// probeTo runs lab probe writing its windows to out.
func probeTo(ctx context.Context, logger *slog.Logger, args []string, out io.Writer) error {
	var command []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, command = args[:i], args[i+1:]
	}
	fs := newFlags("probe")
	pid := fs.Int("pid", 0, "scope to this process (tgid)")
	cgroup := fs.String("cgroup", "", "scope to this cgroup directory (cgroup v2, or a cgroup v1 memory controller directory)")
	device := fs.String("device", "", "block latency for this disk: MAJOR:MINOR, or a path whose disk to use (default every disk)")
	interval := fs.Duration("interval", time.Second, "window length")
	count := fs.Int("count", 0, "stop after this many windows (0: until interrupted or the command exits)")
	asJSON := fs.Bool("json", false, "print one JSON object per window instead of tables")
	features := fs.Bool("features", false, "print which events and types this kernel has, then exit")
	listen := fs.String("listen", "", "also serve the readings as Prometheus metrics at http://ADDR/metrics (dashboards/prometheus.yml scrapes "+bpf.DefaultListenAddr+")")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if *features {
		if mounted, err := bpf.EnsureTracefs(bpf.DefaultTracefsDir); err != nil {
			logger.Warn("tracefs unavailable", "err", err)
		} else if mounted {
			logger.Info("mounted tracefs", "dir", bpf.DefaultTracefsDir)
		}
		f := bpf.ProbeFeatures("")
		if *asJSON {
			return json.NewEncoder(out).Encode(f)
		}
		_, err := f.WriteTo(out)
		return err
	}
	var families []bpf.Family
	for _, name := range pos {
		if name == "all" {
			families = append(families, bpf.Families()...)
			continue
		}
		f, err := bpf.ParseFamily(name)
		if err != nil {
			return err
		}
		families = append(families, f)
	}
	if *device != "" && strings.Contains(*device, "/") {
		if *device, err = bpf.DiskOf("/sys", *device); err != nil {
			return err
		}
	}

	return watch.Run(ctx, watch.Config{Families: families, PID: *pid, Cgroup: *cgroup, Command: command, Device: *device,
		Interval: *interval, Count: *count, JSON: *asJSON, Listen: *listen, Logger: logger}, out)
}
