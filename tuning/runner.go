package tuning

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/brokerlab/brokerlab/internal/profiling"
	"github.com/brokerlab/brokerlab/procsample"
	"github.com/brokerlab/brokerlab/tuning/host"
)

// Broker starts the broker under test for one run.
type Broker interface {
	// Start starts a broker with spec and returns once it accepts
	// connections. The process is the caller's to Stop.
	Start(ctx context.Context, spec BrokerSpec) (BrokerProcess, error)
}

// BrokerSpec is what one run asks of the broker.
type BrokerSpec struct {
	// LogDir is the log directory on the disk under test.
	LogDir string
	// Overrides are `--override key=value` arguments (Settings.Overrides).
	Overrides []string
	// Env is extra environment (Runtime.Env: GOGC, GOMEMLIMIT, GOMAXPROCS).
	Env []string
	// Label names the run in logs ("c03-r2").
	Label string
}

// BrokerProcess is a running broker.
type BrokerProcess interface {
	// PID is the broker's process id (for the cgroup, journal and probes).
	PID() int
	// Addr is the host:port clients connect to.
	Addr() string
	// Stop stops the broker (SIGTERM, then SIGKILL when ctx ends) and
	// waits for it. It is idempotent.
	Stop(ctx context.Context) error
}

// Load drives the workload against a broker and measures it.
type Load interface {
	// Run warms up for warmup, measures for measure and returns the load
	// generator's numbers (probe fields left nil). resultFile is where to
	// keep the load generator's own result ("" = nowhere).
	Run(ctx context.Context, addr string, warmup, measure time.Duration, label, resultFile string) (Measurement, []string, error)
}

// Probes attach the kernel probes to the broker for one run.
type Probes interface {
	// Attach starts counting for the process (and its cgroup directory,
	// "" for none).
	Attach(pid int, cgroupDir string) (ProbeSession, error)
}

// ProbeSession is one run's attached probes.
type ProbeSession interface {
	// Collect fills m's probe fields with what was counted since Attach.
	Collect(m *Measurement) error
	// Close detaches the probes.
	Close() error
}

// Ceilings measures a log directory's throughput ceiling (bytes/s).
type Ceilings interface {
	Measure(ctx context.Context, dir string) (float64, error)
}

// Progress is reported before each run and once at the end.
type Progress struct {
	// Done runs of Total; Run is the one starting (nil at the end).
	Done, Total int
	Run         *Run
	// Elapsed since the sweep started; Left is the estimate for the rest.
	Elapsed, Left time.Duration
	// Failed counts runs that failed so far.
	Failed int
}

// RunnerConfig configures a Runner. Plan, OutDir, Host, Broker and Load
// are required.
type RunnerConfig struct {
	// Plan is the plan to run (validated).
	Plan *Plan
	// OutDir receives plan.yaml, runs/*.json and loadgen/*.json.
	OutDir string
	// WorkDir holds the lab's loop files, mount points and plain log dirs;
	// it must be on the root disk for "loop" disks to mean that. Default
	// /var/lib/brokerlab/work.
	WorkDir string
	// Host journals and makes every host change. The runner restores it
	// after every run and at the end; closing it is the caller's.
	Host *host.Session
	// Broker, Load: the system under test and the load. Probes and
	// Ceilings are optional.
	Broker Broker
	// BrokerName describes Broker in each run file ("bin/broker", "kfake
	// (bin/kfake -listen 127.0.0.1:9192)").
	BrokerName string
	Load       Load
	Probes     Probes
	Ceilings   Ceilings
	// Environment describes the machine; the runner adds the disk and
	// filesystem of each cell.
	Environment procsample.Environment
	// ProcRoot is where procfs is (for drop_caches). Default "/proc".
	ProcRoot string
	// CgroupName prefixes the broker's cgroups. Default "brokerlab".
	CgroupName string
	// Progress is called before each run and at the end; nil logs it.
	Progress func(Progress)
	// Logger receives the runner's events. Nil discards.
	Logger *slog.Logger
	// NoCgroups runs the broker without a cgroup of its own (the lab may
	// not create cgroups here); a cell with a memory limit or a throttle
	// then fails. Plan.Degrade removes those.
	NoCgroups bool
	// StopTimeout bounds a broker's clean shutdown. Default 30s.
	StopTimeout time.Duration
	// Profiles are the pprof profiles saved of each run's broker over its
	// measured window (profiles/<cell>-r<N>.<kind>.pprof, listed in the
	// run's record). The runner gives the broker a pprof listener on a
	// free loopback port of its own for it. None by default.
	Profiles []profiling.Kind
	// Pyroscope, when set, is a pyroscope server URL the broker sends
	// continuous profiles to, tagged with the plan, cell and repetition.
	Pyroscope string
}

// DefaultWorkDir is where the lab keeps its loop files and mount points.
const DefaultWorkDir = "/var/lib/brokerlab/work"

// Validate reports every missing or inconsistent field.
func (c RunnerConfig) Validate() error {
	var errs []error
	if c.Plan == nil {
		errs = append(errs, errors.New("runner: no plan"))
	}
	if c.OutDir == "" {
		errs = append(errs, errors.New("runner: no output directory"))
	}
	if c.Host == nil {
		errs = append(errs, errors.New("runner: no host session (host.Open)"))
	}
	if c.Broker == nil {
		errs = append(errs, errors.New("runner: no broker"))
	}
	if c.Load == nil {
		errs = append(errs, errors.New("runner: no load"))
	}
	if c.WorkDir != "" && !filepath.IsAbs(c.WorkDir) {
		errs = append(errs, fmt.Errorf("runner: work dir %q: want an absolute path", c.WorkDir))
	}
	return errors.Join(errs...)
}

// Runner runs a plan's schedule: for every run it prepares the cell on the
// host, starts the broker, attaches the probes, drives the load (warm-up,
// measure), collects the numbers into a run file and tears everything down
// again, restoring the host. It runs one run at a time on the calling
// goroutine and starts no goroutines of its own.
type Runner struct {
	cfg RunnerConfig
	log *slog.Logger
}

// NewRunner checks cfg and fills its defaults.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir = DefaultWorkDir
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.CgroupName == "" {
		cfg.CgroupName = "brokerlab"
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Runner{cfg: cfg, log: cfg.Logger.With("component", "runner")}, nil
}

// Run runs the whole schedule and returns the records written. A failed
// run is logged and skipped (its cell has one sample fewer); the sweep
// stops at the first error that leaves the host in doubt (a restore that
// failed) or when ctx ends. The host is restored before Run returns.
func (r *Runner) Run(ctx context.Context) (records []Record, err error) {
	p := r.cfg.Plan
	if err := os.MkdirAll(r.cfg.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", r.cfg.OutDir, err)
	}
	if err := writePlan(filepath.Join(r.cfg.OutDir, "plan.yaml"), p); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(r.cfg.WorkDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating work dir %s: %w", r.cfg.WorkDir, err)
	}
	st := &runState{}
	defer func() {
		// The end of the sweep: everything the runs changed goes back.
		if _, rerr := r.cfg.Host.Restore(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("restoring the host after the sweep: %w", rerr))
		}
	}()
	if a := p.Affinity; a != nil {
		st.pinning = &Pinning{NotPinned: checkAffinity(a)}
		if st.pinning.NotPinned == "" {
			prev, err := allowedCPUs()
			if err == nil {
				err = pinTasks(os.Getpid(), a.Load)
			}
			if err != nil {
				st.pinning.NotPinned = err.Error()
			} else {
				st.pinning.Broker, st.pinning.Load, st.pinning.Method = a.Broker, a.Load, "sched_setaffinity"
				defer func() {
					if err := pinTasks(os.Getpid(), prev); err != nil {
						r.log.Warn("restoring the lab's CPU affinity", "err", err)
					}
				}()
			}
		}
		if st.pinning.NotPinned != "" {
			r.log.Warn("running without CPU pinning", "reason", st.pinning.NotPinned)
		}
	}
	schedule := p.Schedule()
	start := time.Now()
	failed := 0
	roundStart, slowest := start, time.Duration(0)
	stopAt := func(round int, reason string, hw []HalfWidth) error {
		inv := p.invocation()
		inv.Stop = &StopReport{Rounds: round, Reason: reason, Elapsed: time.Since(start).Round(time.Second), HalfWidths: hw}
		return writePlan(filepath.Join(r.cfg.OutDir, "plan.yaml"), p)
	}
	for i, run := range schedule {
		if i > 0 && run.Round != schedule[i-1].Round {
			slowest = max(slowest, time.Since(roundStart))
			roundStart = time.Now()
			reason, hw := sequentialStop(p, records, run.Round, time.Since(start), slowest)
			if len(hw) > 0 {
				r.log.Info("precision", "rounds", run.Round-1, "half_widths", describeHalfWidths(hw))
			}
			if reason != "" {
				r.log.Info("sequential rule stops the plan", "reason", reason, "rounds", run.Round-1)
				if err := stopAt(run.Round-1, reason, hw); err != nil {
					return records, err
				}
				schedule = schedule[:i]
				break
			}
		}
		r.progress(Progress{Done: i, Total: len(schedule), Run: &schedule[i], Elapsed: time.Since(start),
			Left: estimateLeft(p, time.Since(start), i, len(schedule)), Failed: failed})
		if ctx.Err() != nil {
			inv := p.invocation()
			inv.Interrupted = true
			_ = writePlan(filepath.Join(r.cfg.OutDir, "plan.yaml"), p)
			return records, fmt.Errorf("sweep stopped after %d of %d runs: %w", i, len(schedule), context.Cause(ctx))
		}
		rec, err := r.runOne(ctx, st, run)
		if err != nil {
			var hostErr *hostError
			if errors.As(err, &hostErr) {
				return records, err
			}
			failed++
			r.log.Error("run failed", "run", run.Order, "cell", run.Cell.ID, "name", run.Cell.Name, "round", run.Round, "err", err)
			continue
		}
		records = append(records, rec)
	}
	if p.Sequential != nil && (p.Invocation == nil || p.Invocation.Stop == nil) && ctx.Err() == nil {
		if err := stopAt(p.Repetitions, StopMaxRepetitions, precision(p, records)); err != nil {
			return records, err
		}
	}
	r.progress(Progress{Done: len(schedule), Total: len(schedule), Elapsed: time.Since(start), Failed: failed})
	if failed > 0 {
		return records, fmt.Errorf("%d of %d runs failed (see the log); the report uses the %d that succeeded", failed, len(schedule), len(records))
	}
	return records, nil
}

// estimateLeft extrapolates from the runs done, or from the plan's
// durations before the first run ends.
func estimateLeft(p *Plan, elapsed time.Duration, done, total int) time.Duration {
	per := p.RunDuration()
	if done > 0 {
		per = elapsed / time.Duration(done)
	}
	left := per * time.Duration(total-done)
	if q := p.Sequential; q != nil {
		left = max(0, min(left, q.Budget-elapsed))
	}
	return left
}

func (r *Runner) progress(pr Progress) {
	if r.cfg.Progress != nil {
		r.cfg.Progress(pr)
		return
	}
	if pr.Run == nil {
		r.log.Info("sweep done", "runs", pr.Total, "failed", pr.Failed, "elapsed", pr.Elapsed.Round(time.Second))
		return
	}
	r.log.Info("run", "n", pr.Done+1, "of", pr.Total, "cell", pr.Run.Cell.ID, "name", pr.Run.Cell.Name,
		"round", pr.Run.Round, "left", pr.Left.Round(time.Second))
}

// hostError marks an error after which the host's state is in doubt; the
// sweep stops instead of piling more changes on top.
type hostError struct{ err error }

func (e *hostError) Error() string { return e.err.Error() }
func (e *hostError) Unwrap() error { return e.err }

func writePlan(path string, p *Plan) error {
	b, err := yaml.Marshal(p)
	if err != nil {
		return fmt.Errorf("encoding plan: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
