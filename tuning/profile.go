package tuning

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/brokerlab/brokerlab/internal/launch"
	"github.com/brokerlab/brokerlab/internal/profiling"
)

// Profile rates the runner gives a broker whose mutex or block profile it
// takes: every event, as the run is short and the broker's own rate is 0.
// (runtime.SetMutexProfileFraction: 1 records every contention event;
// runtime.SetBlockProfileRate: 1 records every blocking event.)
const (
	profileMutexFraction = 1
	profileBlockRate     = 1
)

// profileOverrides adds to a run's broker overrides what profiling needs:
// with RunnerConfig.Profiles, metrics and pprof on a free loopback port
// the runner owns (so concurrent runs cannot collide) and the mutex/block
// rates asked for; with RunnerConfig.Pyroscope, the server and the run's
// tags. It returns the pprof base URL ("" without profiles).
func (r *Runner) profileOverrides(cell Cell, run Run, overrides []string) ([]string, string, error) {
	add := func(kv string) { overrides = append(overrides, "--override", kv) }
	base := ""
	if kinds := r.cfg.Profiles; len(kinds) > 0 {
		addr, err := launch.FreeAddr()
		if err != nil {
			return nil, "", fmt.Errorf("finding a free port for the broker's pprof listener: %w", err)
		}
		add("brokerlab.metrics.listen=" + addr)
		add("brokerlab.metrics.pprof=true")
		if slices.Contains(kinds, profiling.Mutex) {
			add(fmt.Sprintf("brokerlab.metrics.pprof.mutex.fraction=%d", profileMutexFraction))
		}
		if slices.Contains(kinds, profiling.Block) {
			add(fmt.Sprintf("brokerlab.metrics.pprof.block.rate=%d", profileBlockRate))
		}
		base = "http://" + addr
	}
	if r.cfg.Pyroscope != "" {
		add("brokerlab.pyroscope.server=" + r.cfg.Pyroscope)
		tags := []string{"plan=" + tagValue(r.cfg.Plan.Name), "cell=" + cell.ID, fmt.Sprintf("rep=%d", run.Round)}
		add("brokerlab.pyroscope.tags=" + strings.Join(tags, ","))
	}
	return overrides, base, nil
}

// tagValue keeps a pyroscope tag value free of the list's separators.
func tagValue(s string) string { return strings.NewReplacer(",", "_", "=", "_").Replace(s) }

// runProfiles is one run's profile taking, owned by runOne, which waits.
type runProfiles struct {
	cancel context.CancelFunc
	done   chan struct{}
	files  []profiling.File
	err    error
}

// startProfiles starts taking the run's profiles when the load starts; a
// nil result (no profiles asked for) waits for nothing.
func (r *Runner) startProfiles(ctx context.Context, base, label string) *runProfiles {
	if base == "" {
		return nil
	}
	pctx, cancel := context.WithCancel(ctx)
	rp := &runProfiles{cancel: cancel, done: make(chan struct{})}
	p := r.cfg.Plan
	go func() {
		defer close(rp.done)
		rp.files, rp.err = profiling.Window(pctx, base, r.cfg.OutDir, label, r.cfg.Profiles, p.Warmup, p.Measure)
	}()
	return rp
}

// wait returns the saved profiles; abort stops taking them first (the
// load failed, so the window they cover is not a measured one).
func (rp *runProfiles) wait(abort bool) ([]profiling.File, error) {
	if rp == nil {
		return nil, nil
	}
	if abort {
		rp.cancel()
	}
	<-rp.done
	rp.cancel()
	return rp.files, rp.err
}
