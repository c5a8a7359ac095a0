// Package launch starts the lab's servers — the project's broker and the kfake
// reference peer — as child processes, waits until they answer the Kafka
// protocol (a real ApiVersions round trip through franz-go), and stops them:
// SIGTERM, a grace period, then SIGKILL. The benches (package bench), the
// tuning runner (tuning.ExecBroker) and the end-to-end tests use it, so that
// every measured server runs as its own process, exactly as a user runs it.
// StartBroker also writes the broker's server.properties on a free port and
// keeps it and the broker's log under the run directory.
package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Spec says what to start.
type Spec struct {
	// Name labels the process in errors and logs ("broker", "kfake").
	Name string
	// Path is the executable; Args its arguments.
	Path string
	Args []string
	// Env is added to the parent's environment (GOGC=..., GOMEMLIMIT=...).
	Env []string
	// Addr is the host:port the server listens on; Start waits until a
	// Kafka ApiVersions request there succeeds. Empty for a process that
	// does not speak Kafka (Prometheus, node-exporter): Start then returns
	// once it has started, and the caller waits on what it serves.
	Addr string
	// LogFile receives the child's stdout and stderr; when empty they go
	// to Output (nil discards them).
	LogFile string
	Output  io.Writer
	// StartTimeout bounds the wait for readiness; zero means 30s.
	StartTimeout time.Duration
	// SysProcAttr is passed to the child (cgroup placement, credentials).
	SysProcAttr *syscall.SysProcAttr
}

// Process is a running server. Stop it with Stop; Stop is idempotent.
type Process struct {
	spec Spec
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error // exit error, valid once done is closed
}

// Start starts spec's process and returns once it serves Kafka requests on
// spec.Addr, or returns an error (and kills the process) when it exits early
// or does not become ready within the timeout.
func Start(ctx context.Context, spec Spec) (*Process, error) {
	if spec.StartTimeout == 0 {
		spec.StartTimeout = 30 * time.Second
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.SysProcAttr = spec.SysProcAttr
	p := &Process{spec: spec, cmd: cmd, done: make(chan struct{})}
	if spec.LogFile != "" {
		if err := os.MkdirAll(filepath.Dir(spec.LogFile), 0o755); err != nil {
			return nil, fmt.Errorf("creating log dir for %s: %w", spec.Name, err)
		}
		f, err := os.Create(spec.LogFile)
		if err != nil {
			return nil, fmt.Errorf("creating log file for %s: %w", spec.Name, err)
		}
		p.log = f
		cmd.Stdout, cmd.Stderr = f, f
	} else if spec.Output != nil {
		cmd.Stdout, cmd.Stderr = spec.Output, spec.Output
	}
	if err := cmd.Start(); err != nil {
		p.closeLog()
		return nil, fmt.Errorf("starting %s (%s): %w", spec.Name, spec.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		p.closeLog()
		close(p.done)
	}()
	if spec.Addr == "" {
		return p, nil
	}
	if err := p.waitReady(ctx); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Addr is the host:port the process serves Kafka on.
func (p *Process) Addr() string { return p.spec.Addr }

// LogFile is where the process's output goes ("" when not to a file).
func (p *Process) LogFile() string { return p.spec.LogFile }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

func (p *Process) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(p.spec.StartTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v)%s", p.spec.Name, p.err, p.logTail())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if last = ping(ctx, p.spec.Addr); last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready on %s after %v: %w%s", p.spec.Name, p.spec.Addr, p.spec.StartTimeout, last, p.logTail())
}

// ping sends one ApiVersions request with a real Kafka client.
func ping(ctx context.Context, addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTimeout(time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return cl.Ping(pctx)
}

// ErrKilled is wrapped by Stop's error when the process outlived its grace
// period and was killed.
var ErrKilled = errors.New("did not stop after SIGTERM: killed")

// Stop sends SIGTERM, waits up to grace for the process to exit, then kills
// it. It returns the process's exit error unless the exit was the requested
// one (status 0, death by the signal Stop sent, or status 143, which a
// process that handles SIGTERM reports as the shell would).
func (p *Process) Stop(grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	return p.StopContext(ctx)
}

// StopContext is Stop with the grace period ending when ctx does.
func (p *Process) StopContext(ctx context.Context) error {
	select {
	case <-p.done:
		return p.exitErr()
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.exitErr()
	case <-ctx.Done():
		p.kill()
		return fmt.Errorf("%s pid %d: %w", p.spec.Name, p.Pid(), ErrKilled)
	}
}

// Kill sends SIGKILL and waits for the exit, as a crash would end it.
// Killing a process that has exited does nothing.
func (p *Process) Kill() { p.kill() }

func (p *Process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *Process) exitErr() error {
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && (ws.Signaled() && ws.Signal() == syscall.SIGTERM ||
			ws.Exited() && ws.ExitStatus() == 128+int(syscall.SIGTERM)) {
			// Death by SIGTERM, or an exit that reports it the shell's way
			// (143: lab's commands clean up on SIGTERM, then exit so).
			return nil
		}
		return fmt.Errorf("%s exited: %w%s", p.spec.Name, p.err, p.logTail())
	}
	return p.err
}

func (p *Process) closeLog() {
	if p.log != nil {
		p.log.Close()
	}
}

// logTail returns the last lines of the log file, for error messages.
func (p *Process) logTail() string {
	if p.spec.LogFile == "" {
		return ""
	}
	b, err := os.ReadFile(p.spec.LogFile)
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return "\n" + p.spec.Name + " log (" + p.spec.LogFile + "):\n  " + strings.Join(lines, "\n  ")
}

// FreeAddr returns a loopback host:port that was free a moment ago. Servers
// that must be told their port up front (kfake advertises it) use it.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
