package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/brokerlab/brokerlab/internal/profiling"
	"github.com/brokerlab/brokerlab/internal/properties"
	"github.com/brokerlab/brokerlab/loadgen"
)

func runLoad(ctx context.Context, logger *slog.Logger, args []string) error {
	fs := newFlags("load")
	workload := fs.String("workload", "", "workload YAML file (OpenMessaging Benchmark field names; see workloads/)")
	driver := fs.String("driver", "", "driver YAML file with the client settings (default: built-in defaults; see workloads/driver-*.yaml)")
	brokers := fs.String("brokers", "", "seed brokers host:port[,host:port] (default: the driver's bootstrap.servers)")
	out := fs.String("out", "", "write the JSON result here (schema: loadgen/SCHEMA.md)")
	window := fs.Duration("window", time.Second, "time-series window")
	logDir := fs.String("log-dir", "", "the broker's log directory, to record its filesystem and device")
	label := fs.String("label", "", "name of this run in reports (default: the workload name)")
	target := fs.String("target", "", "name of the system under test, recorded as given (e.g. broker, kfake)")
	targetVersion := fs.String("target-version", "", "version of the system under test, recorded as given")
	targetConfig := fs.String("target-config", "", "the target's config file (key=value, e.g. server.properties), recorded in the result")
	ceilings := fs.String("ceilings", "", "embed ceilings from this JSON file (lab ceilings -out) for %-of-ceiling columns")
	unpaced := fs.Bool("unpaced", false, "send as fast as the client accepts, no schedule (raw max throughput, as rdkafka_performance)")
	keep := fs.Bool("keep-topics", false, "keep the run's topics instead of deleting them")
	quiet := fs.Bool("quiet", false, "no per-window progress lines")
	searchMax := fs.Duration("search-max", 30*time.Second, "producerRate 0: bound on the max-rate search")
	delayLimit := fs.Duration("delay-limit", 50*time.Millisecond, "publish delay p99 above which producers count as behind schedule")
	profile := fs.String("profile", "", "save pprof profiles of the broker over the measured phase: cpu,heap,mutex,block, beside -out in profiles/ (needs -pprof)")
	pprofAddr := fs.String("pprof", "", "the broker's pprof listener host:port (brokerlab.metrics.listen with brokerlab.metrics.pprof=true), for -profile")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *workload == "" {
		return errors.New("-workload is required (for example -workload workloads/1-topic-1-partition-1kb-max.yaml)")
	}
	w, err := loadgen.LoadWorkload(*workload)
	if err != nil {
		return err
	}
	d := loadgen.DefaultDriver()
	if *driver != "" {
		if d, err = loadgen.LoadDriver(*driver); err != nil {
			return err
		}
	}
	o := loadgen.Options{
		Window: *window, Logger: logger, Label: *label, LogDir: *logDir, Unpaced: *unpaced,
		KeepTopics: *keep, SearchMaxDuration: *searchMax, DelayLimit: *delayLimit,
		Target: loadgen.Target{Name: *target, Version: *targetVersion},
	}
	if !*quiet {
		o.Progress = os.Stderr
	}
	if *brokers != "" {
		o.Brokers = strings.Split(*brokers, ",")
	}
	if *targetConfig != "" {
		if o.Target.Config, err = properties.ReadFile(*targetConfig); err != nil {
			return err
		}
	}
	if *ceilings != "" {
		if o.Ceilings, err = loadgen.ReadCeilings(*ceilings); err != nil {
			return err
		}
	}
	kinds, err := profiling.ParseKinds(*profile)
	if err != nil {
		return err
	}
	var prof *profiling.Deferred
	if len(kinds) > 0 {
		if *pprofAddr == "" {
			return errors.New("-profile needs -pprof host:port: the broker's metrics listener, started with brokerlab.metrics.pprof=true")
		}
		name := cmp.Or(o.Label, w.Name)
		prof = profiling.Defer(ctx, "http://"+*pprofAddr, filepath.Dir(*out), name, kinds, w.TestDuration())
		o.OnMeasure = prof.Start
	}
	res, runErr := loadgen.Run(ctx, w, d, o)
	files, profErr := prof.Wait(runErr != nil)
	if profErr != nil {
		logger.Warn("saving profiles", "err", profErr)
	}
	if res != nil {
		for _, f := range files {
			res.Profiles = append(res.Profiles, f.Path)
		}
	}
	if res == nil || (runErr != nil && len(res.Windows) == 0) {
		return runErr // nothing was measured: no summary to show
	}
	if err := loadgen.WriteSummary(os.Stdout, res); err != nil {
		return err
	}
	if *out != "" {
		if err := res.WriteFile(*out); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "result written to %s\n", *out)
	}
	return runErr
}
