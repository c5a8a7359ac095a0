package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/brokerlab/brokerlab/internal/launch"
	"github.com/brokerlab/brokerlab/loadgen"
)

// LoadConfig describes the load experiment: the franz-go load generator
// against the broker twice, a max-rate search with a short measured window,
// then a run at half the maximum sustainable rate, where latency means
// something.
type LoadConfig struct {
	// BrokerPath is bin/broker; WorkDir holds its log dir, config and log.
	BrokerPath, WorkDir string
	// WorkloadPath and DriverPath are the max-rate workload and the driver.
	WorkloadPath, DriverPath string
	// Measure is the measured duration of each run; SearchMax bounds the
	// max-rate search.
	Measure, SearchMax time.Duration
	// BrokerProps are extra server.properties lines.
	BrokerProps []string
	// Ceilings, when measured, are put beside the results.
	Ceilings *loadgen.Ceilings
	// Progress receives the stage lines (os.Stderr in lab bench).
	Progress io.Writer
	Logger   *slog.Logger
}

// RunLoad runs the two load runs, writes load-max.json, load-half.json and
// the charts into runDir, the table to stdout and a section to md, and
// returns the two results (those it got, with an error).
func RunLoad(ctx context.Context, cfg LoadConfig, runDir string, stdout, md io.Writer) (maxRes, halfRes *loadgen.Result, err error) {
	orDefault(&cfg.Logger, slog.New(slog.DiscardHandler))
	orDefault(&cfg.Progress, io.Discard)
	w, err := loadgen.LoadWorkload(cfg.WorkloadPath)
	if err != nil {
		return nil, nil, err
	}
	d, err := loadgen.LoadDriver(cfg.DriverPath)
	if err != nil {
		return nil, nil, err
	}
	logDir := filepath.Join(cfg.WorkDir, "data")
	p, err := launch.StartBroker(ctx, launch.Broker{Path: cfg.BrokerPath, Dir: cfg.WorkDir, Label: "load", LogDir: logDir, Props: cfg.BrokerProps})
	if err != nil {
		return nil, nil, err
	}
	defer p.Stop(time.Minute)
	addr := p.Addr()

	secs := int(cfg.Measure / time.Second)
	w.TestDurationMinutes, w.TestDurationSeconds = 0, secs
	w.WarmupDurationMinutes, w.WarmupDurationSeconds = 0, max(1, min(5, secs/4))
	opts := loadgen.Options{Brokers: []string{addr}, Progress: cfg.Progress, Logger: cfg.Logger,
		Target: loadgen.Target{Brokers: []string{addr}, Name: "brokerlab broker"}, LogDir: logDir, Ceilings: cfg.Ceilings,
		SearchMaxDuration: cfg.SearchMax}

	fmt.Fprintf(cfg.Progress, ">> load: maximum sustainable rate (%s)\n", w.Name)
	opts.Label = "max rate"
	maxRes, err = loadgen.Run(ctx, w, d, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("max-rate run: %w", err)
	}
	if maxRes.RateSearch == nil || maxRes.RateSearch.MaxSustainable <= 0 {
		return maxRes, nil, errors.New("max-rate run found no sustainable rate")
	}
	half := w
	half.ProducerRate = maxRes.RateSearch.MaxSustainable / 2
	half.Name = w.Name + " at 50% of max"
	fmt.Fprintf(cfg.Progress, ">> load: latency at half the maximum (%.0f msg/s)\n", half.ProducerRate)
	opts.Label = "50% of max"
	halfRes, err = loadgen.Run(ctx, half, d, opts)
	if err != nil {
		return maxRes, nil, fmt.Errorf("half-rate run: %w", err)
	}
	for name, r := range map[string]*loadgen.Result{"load-max.json": maxRes, "load-half.json": halfRes} {
		if err := WriteJSON(filepath.Join(runDir, name), r); err != nil {
			return maxRes, halfRes, err
		}
	}
	results := []*loadgen.Result{maxRes, halfRes}
	if err := loadgen.RenderTable(stdout, results, false); err != nil {
		return maxRes, halfRes, err
	}
	fmt.Fprintf(md, "## franz-go load generator against the broker (%s, driver %s)\n\n", w.Name, d.Name)
	fmt.Fprintf(md, "Maximum sustainable rate: %.0f msg/s (%s). The second run holds half of it.\n\n",
		maxRes.RateSearch.MaxSustainable, maxRes.RateSearch.Method)
	if err := loadgen.RenderTable(md, results, true); err != nil {
		return maxRes, halfRes, err
	}
	if files, err := loadgen.WriteCharts(runDir, results); err == nil {
		fmt.Fprintln(md)
		for _, f := range files {
			fmt.Fprintf(md, "![%s](%s)\n", strings.TrimSuffix(filepath.Base(f), ".png"), filepath.Base(f))
		}
	}
	fmt.Fprintln(md)
	return maxRes, halfRes, nil
}
