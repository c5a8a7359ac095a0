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

// measureHookKey carries the function a Load calls as its measured window
// starts (as net/http/httptrace carries a ClientTrace): the runner's
// Load interface stays as it is, and a Load that does not call it only
// costs the run its profiles.
type measureHookKey struct{}

// withMeasureHook returns ctx carrying fn.
func withMeasureHook(ctx context.Context, fn func()) context.Context {
	return context.WithValue(ctx, measureHookKey{}, fn)
}

// measureHook returns the function ctx carries, or nil.
func measureHook(ctx context.Context) func() {
	fn, _ := ctx.Value(measureHookKey{}).(func())
	return fn
}

// profileHook returns the load's context, carrying the hook that starts
// taking the run's profiles, and the profiles to wait for (nil without
// profiles: ctx is returned as it is).
func (r *Runner) profileHook(ctx context.Context, base, label string) (context.Context, *profiling.Deferred) {
	if base == "" {
		return ctx, nil
	}
	d := profiling.Defer(ctx, base, r.cfg.OutDir, label, r.cfg.Profiles, r.cfg.Plan.Measure)
	return withMeasureHook(ctx, d.Start), d
}
