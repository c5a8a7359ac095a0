package tuning

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ExecBroker starts bin/broker as a child process:
//
//	broker <Config> --override log.dirs=<dir> --override listeners=PLAINTEXT://127.0.0.1:<port> <cell overrides>
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
	// <LogDir>/<run label>.log, named in the error when the broker exits
	// before it listens.
	LogDir string
	// Credential, when set, runs the broker as that user (the log dir is
	// chowned to it); nil runs it as the lab's user.
	Credential *syscall.Credential
	// Logger receives start and stop events. Nil discards.
	Logger *slog.Logger
}

// Start implements Broker.
func (e ExecBroker) Start(ctx context.Context, spec BrokerSpec) (BrokerProcess, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{e.Config,
		"--override", "log.dirs=" + spec.LogDir,
		"--override", "listeners=PLAINTEXT://" + addr,
		"--override", "advertised.listeners=PLAINTEXT://" + addr,
	}
	for _, o := range e.Overrides {
		args = append(args, "--override", o)
	}
	args = append(args, spec.Overrides...)
	cmd := exec.Command(e.Path, args...)
	cmd.Env = append(os.Environ(), spec.Env...)
	out, where := e.Output, "its output shows why"
	if e.LogDir != "" {
		path := filepath.Join(e.LogDir, spec.Label+".log")
		if err := os.MkdirAll(e.LogDir, 0o755); err != nil {
			return nil, fmt.Errorf("creating broker log dir: %w", err)
		}
		f, err := os.Create(path)
		if err != nil {
			return nil, fmt.Errorf("creating broker log: %w", err)
		}
		defer f.Close() // the child has its own copy of the descriptor
		out, where = f, "see "+path
	}
	if out == nil {
		out = io.Discard
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if e.Credential != nil {
		cmd.SysProcAttr.Credential = e.Credential
		if err := os.Chown(spec.LogDir, int(e.Credential.Uid), int(e.Credential.Gid)); err != nil {
			return nil, fmt.Errorf("handing log dir %s to uid %d: %w", spec.LogDir, e.Credential.Uid, err)
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting broker %s: %w", e.Path, err)
	}
	p := &execProcess{cmd: cmd, addr: addr, done: make(chan struct{})}
	go func() { // owned by p: Stop waits for it through p.done
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	logger := e.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger.Debug("broker started", "run", spec.Label, "pid", cmd.Process.Pid, "addr", addr)
	// Wait until it accepts connections, or exits.
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("broker exited before listening on %s: %v (%s)", addr, p.waitErr, where)
		case <-ctx.Done():
			_ = p.Stop(context.Background())
			return nil, fmt.Errorf("broker not listening on %s: %w", addr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freePort asks the kernel for a free loopback port. Another process may
// take it before the broker binds it; the start then fails and the run is
// reported as failed.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type execProcess struct {
	cmd     *exec.Cmd
	addr    string
	done    chan struct{}
	waitErr error
	once    sync.Once
	stopErr error
}

func (p *execProcess) PID() int     { return p.cmd.Process.Pid }
func (p *execProcess) Addr() string { return p.addr }

// Stop sends SIGTERM (the broker drains and flushes), then SIGKILL when
// ctx ends first, and waits for the process.
func (p *execProcess) Stop(ctx context.Context) error {
	p.once.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			var ee *exec.ExitError
			if p.waitErr != nil && !errors.As(p.waitErr, &ee) {
				p.stopErr = p.waitErr
			}
		case <-ctx.Done():
			_ = p.cmd.Process.Kill()
			<-p.done
			p.stopErr = fmt.Errorf("broker pid %d did not stop after SIGTERM; killed it", p.cmd.Process.Pid)
		}
	})
	return p.stopErr
}
