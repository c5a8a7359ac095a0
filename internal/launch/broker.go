package launch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Broker says how to start bin/broker on a server.properties that StartBroker
// writes: node.id=1, a PLAINTEXT listener on a free loopback port, log.dirs,
// then Props in order (a later line wins, as in Kafka's properties files).
type Broker struct {
	// Path is the broker executable (bin/broker).
	Path string
	// Dir is the run directory: server-<Label>.properties and
	// broker-<Label>.log are written there, and kept.
	Dir string
	// Label names this start's files ("fill", "sendfile-0", "3-b").
	Label string
	// LogDir is the broker's log.dirs (default <Dir>/data).
	LogDir string
	// Props are extra server.properties lines, key=value.
	Props []string
	// Env is added to the parent's environment (GOGC=..., GOMEMLIMIT=...).
	Env []string
	// StartTimeout bounds the wait for readiness (Spec.StartTimeout).
	StartTimeout time.Duration
	// SysProcAttr is passed to the child.
	SysProcAttr *syscall.SysProcAttr
}

// PropsFile is the server.properties StartBroker writes for b.
func (b Broker) PropsFile() string { return filepath.Join(b.Dir, "server-"+b.Label+".properties") }

// LogFile is where the broker's stdout and stderr go.
func (b Broker) LogFile() string { return filepath.Join(b.Dir, "broker-"+b.Label+".log") }

// portAttempts bounds StartBroker's tries: a port another process takes
// between FreeAddr and the broker's bind is retried with another one.
const portAttempts = 4

// freeAddr is FreeAddr; tests replace it to hand out a taken port.
var freeAddr = FreeAddr

// StartBroker writes b's server.properties on a free loopback port, starts
// the broker on it and returns once a Kafka ApiVersions request is answered
// there (Process.Addr). When another process took the port between choosing
// and binding it (a shared machine), it starts again on another port, so a
// failed start is the broker's own failure.
func StartBroker(ctx context.Context, b Broker) (*Process, error) {
	if b.LogDir == "" {
		b.LogDir = filepath.Join(b.Dir, "data")
	}
	if err := os.MkdirAll(b.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating run dir %s: %w", b.Dir, err)
	}
	for attempt := 1; ; attempt++ {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		lines := append([]string{"node.id=1", "listeners=PLAINTEXT://" + addr, "log.dirs=" + b.LogDir}, b.Props...)
		if err := os.WriteFile(b.PropsFile(), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			return nil, fmt.Errorf("writing %s: %w", b.PropsFile(), err)
		}
		p, err := Start(ctx, Spec{
			Name: "broker", Path: b.Path, Args: []string{b.PropsFile()}, Env: b.Env, Addr: addr,
			LogFile: b.LogFile(), StartTimeout: b.StartTimeout, SysProcAttr: b.SysProcAttr,
		})
		if err != nil && attempt < portAttempts && portTaken(b.LogFile(), addr) {
			continue
		}
		return p, err
	}
}

// portTaken says whether the broker's log reports that it could not bind
// addr because another process holds it. The bind happened in the child,
// so its log line is all there is to read: the broker writes the listener
// address and the error's text (EADDRINUSE's message) on one line.
func portTaken(logFile, addr string) bool {
	b, err := os.ReadFile(logFile)
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		if strings.Contains(line, addr) && strings.Contains(line, syscall.EADDRINUSE.Error()) {
			return true
		}
	}
	return false
}
