package tuning

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/brokerlab/brokerlab/internal/launch"
	"github.com/brokerlab/brokerlab/internal/properties"
)

// ExecBroker starts bin/broker as a child process through the lab's one
// launcher (internal/launch), as an adapter to Broker:
//
//	broker <Config> --override log.dirs=<dir> --override listeners=PLAINTEXT://127.0.0.1:<port> <cell overrides>
//
// It returns once the broker answers a Kafka ApiVersions request.
type ExecBroker struct {
	// Path is the broker binary (bin/broker).
	Path string
	// Config is the server.properties file (config/server.properties).
	Config string
	// Overrides are added to every run's (before the cell's own), e.g.
	// "brokerlab.metrics.listen=" to turn the metrics listener off.
	Overrides []string
	// Output receives the broker's stdout and stderr when LogDir is empty;
	// nil discards them.
	Output io.Writer
	// LogDir, when set, receives each run's broker output in
	// <LogDir>/<run label>.log, whose last lines are quoted in the error
	// when the broker exits before it is ready.
	LogDir string
	// Credential, when set, runs the broker as that user (the log dir is
	// chowned to it); nil runs it as the lab's user.
	Credential *syscall.Credential
	// Logger receives start and stop events. Nil discards.
	Logger *slog.Logger
}

// startTimeout bounds a cell's broker start: recovery of a cell's small log
// takes seconds; the run's context still ends it sooner on SIGINT.
const startTimeout = 10 * time.Minute

// Start implements Broker.
func (e ExecBroker) Start(ctx context.Context, spec BrokerSpec) (BrokerProcess, error) {
	addr, err := launch.FreeAddr()
	if err != nil {
		return nil, fmt.Errorf("finding a free port: %w", err)
	}
	args := []string{e.Config,
		"--override", "log.dirs=" + spec.LogDir,
		"--override", "listeners=PLAINTEXT://" + addr,
		"--override", "advertised.listeners=PLAINTEXT://" + addr,
	}
	for _, o := range e.Overrides {
		args = append(args, "--override", o)
	}
	args = append(args, spec.Overrides...)
	ls := launch.Spec{Name: "broker " + spec.Label, Path: e.Path, Args: args, Env: spec.Env, Addr: addr,
		Output: e.Output, StartTimeout: startTimeout,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}}
	if e.LogDir != "" {
		ls.LogFile = filepath.Join(e.LogDir, spec.Label+".log")
	}
	if e.Credential != nil {
		ls.SysProcAttr.Credential = e.Credential
		if err := os.Chown(spec.LogDir, int(e.Credential.Uid), int(e.Credential.Gid)); err != nil {
			return nil, fmt.Errorf("handing log dir %s to uid %d: %w", spec.LogDir, e.Credential.Uid, err)
		}
	}
	p, err := launch.Start(ctx, ls)
	if err != nil {
		return nil, err
	}
	logger := e.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger.Debug("broker started", "run", spec.Label, "pid", p.Pid(), "addr", addr)
	return &execProcess{p: p}, nil
}

type execProcess struct {
	p       *launch.Process
	once    sync.Once
	stopErr error
}

func (p *execProcess) PID() int     { return p.p.Pid() }
func (p *execProcess) Addr() string { return p.p.Addr() }

// Stop sends SIGTERM (the broker drains and flushes), then SIGKILL when
// ctx ends first, and waits for the process. An exit status is not an error
// of Stop: the run's checks read the broker's log.
func (p *execProcess) Stop(ctx context.Context) error {
	p.once.Do(func() {
		if err := p.p.StopContext(ctx); errors.Is(err, launch.ErrKilled) {
			p.stopErr = err
		}
	})
	return p.stopErr
}

// EffectiveConfig is the broker's config as a run with cell's broker
// settings gives it: the Config file, then Overrides, then cell, later keys
// winning (the listeners and log.dirs of each run are left out). Keys the
// file leaves unset take the broker's defaults, not listed here.
func (e ExecBroker) EffectiveConfig(cell map[string]string) map[string]string {
	m, err := properties.ReadFile(e.Config)
	if err != nil {
		m = map[string]string{}
	}
	for _, o := range e.Overrides {
		if k, v, ok := strings.Cut(o, "="); ok {
			m[k] = v
		}
	}
	maps.Copy(m, cell)
	for _, k := range []string{"listeners", "advertised.listeners", "log.dirs", "log.dir"} {
		delete(m, k)
	}
	return m
}
