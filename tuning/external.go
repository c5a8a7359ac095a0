package tuning

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"

	"github.com/brokerlab/brokerlab/internal/launch"
)

// External names a Kafka-protocol broker other than bin/broker as the
// plan's system under test (Apache Kafka's kafka-server-start.sh,
// Redpanda, kfake): the lab starts it with Command, writes its config from
// the Config template and the cell's broker keys, waits for an ApiVersions
// answer at Addr, probes it by pid and cgroup, and stops it as it does its
// own broker.
type External struct {
	// Name labels it in logs and results ("kfake", "kafka").
	Name string `yaml:"name"`
	// Command is the argv; each element is a text/template over
	// ExternalVars ({{.Addr}}, {{.Port}}, {{.LogDir}}, {{.Config}}). A
	// relative program path is relative to the repository root.
	Command []string `yaml:"command"`
	// Addr is a fixed host:port the broker listens on (kfake's
	// 127.0.0.1:9192); empty picks a free loopback port per run.
	Addr string `yaml:"addr,omitempty"`
	// Config is a server.properties template (relative to the repository
	// root): rendered with ExternalVars, the cell's broker keys appended
	// (later lines win, as in Kafka's properties files) and written per
	// run; {{.Config}} in Command is its path. Without it, a plan whose
	// levels set broker keys is invalid: they would not reach the broker.
	Config string `yaml:"config,omitempty"`
}

// ExternalVars are the template variables of External's Command and
// Config.
type ExternalVars struct {
	Addr, Host, Port, LogDir, Config string
}

func (e *External) validate(at string) []error {
	var errs []error
	bad := func(key string, v any, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %v: %s", at, key, v, fmt.Sprintf(format, args...)))
	}
	if e.Name == "" || strings.ContainsAny(e.Name, " \t/") {
		bad("name", fmt.Sprintf("%q", e.Name), "want a short name such as kfake")
	}
	if len(e.Command) == 0 || e.Command[0] == "" {
		bad("command", "[]", "name the program and its arguments, such as [bin/kfake, -listen, '{{.Addr}}']")
	}
	for i, a := range e.Command {
		if _, err := template.New("").Option("missingkey=error").Parse(a); err != nil {
			bad(fmt.Sprintf("command[%d]", i), fmt.Sprintf("%q", a), "not a template: %v", err)
		}
	}
	if e.Addr != "" {
		if _, _, err := net.SplitHostPort(e.Addr); err != nil {
			bad("addr", e.Addr, "want host:port, such as 127.0.0.1:9192")
		}
	}
	if e.Config != "" && (filepath.IsAbs(e.Config) || strings.Contains(e.Config, "..")) {
		bad("config", e.Config, "want a path relative to the repository root, such as config/kafka.properties.tmpl")
	}
	return errs
}

// ExternalBroker adapts an External to Broker.
type ExternalBroker struct {
	Spec External
	// Root resolves Spec's relative program and config paths.
	Root string
	// RunDir receives each run's rendered config and output
	// (<RunDir>/<label>.properties, <label>.log).
	RunDir string
	Logger *slog.Logger
}

// Start implements Broker.
func (e ExternalBroker) Start(ctx context.Context, spec BrokerSpec) (BrokerProcess, error) {
	addr := e.Spec.Addr
	if addr == "" {
		a, err := launch.FreeAddr()
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		addr = a
	}
	host, port, _ := net.SplitHostPort(addr)
	if err := os.MkdirAll(e.RunDir, 0o755); err != nil {
		return nil, err
	}
	vars := ExternalVars{Addr: addr, Host: host, Port: port, LogDir: spec.LogDir}
	keys, err := overrideKeys(spec.Overrides)
	if err != nil {
		return nil, err
	}
	if e.Spec.Config != "" {
		vars.Config = filepath.Join(e.RunDir, spec.Label+".properties")
		text, err := e.renderConfig(vars, keys)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(vars.Config, text, 0o644); err != nil {
			return nil, fmt.Errorf("writing %s's config: %w", e.Spec.Name, err)
		}
	} else if len(keys) > 0 {
		return nil, fmt.Errorf("target %s has no config template, so the cell's broker keys (%s) cannot reach it; add target.config", e.Spec.Name, keys[0][0])
	}
	argv := make([]string, len(e.Spec.Command))
	for i, a := range e.Spec.Command {
		if argv[i], err = render(a, vars); err != nil {
			return nil, fmt.Errorf("target %s command[%d]: %w", e.Spec.Name, i, err)
		}
	}
	if strings.Contains(argv[0], "/") && !filepath.IsAbs(argv[0]) {
		argv[0] = filepath.Join(e.Root, argv[0])
	}
	p, err := launch.Start(ctx, launch.Spec{Name: e.Spec.Name + " " + spec.Label, Path: argv[0], Args: argv[1:], Env: spec.Env, Addr: addr,
		LogFile: filepath.Join(e.RunDir, spec.Label+".log"), StartTimeout: startTimeout,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}})
	if err != nil {
		return nil, err
	}
	if e.Logger != nil {
		e.Logger.Debug("external broker started", "target", e.Spec.Name, "run", spec.Label, "pid", p.Pid(), "addr", addr)
	}
	return &execProcess{p: p}, nil
}

func (e ExternalBroker) renderConfig(vars ExternalVars, keys [][2]string) ([]byte, error) {
	path := e.Spec.Config
	if !filepath.IsAbs(path) {
		path = filepath.Join(e.Root, path)
	}
	tmpl, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading target %s's config template: %w", e.Spec.Name, err)
	}
	text, err := render(string(tmpl), vars)
	if err != nil {
		return nil, fmt.Errorf("target %s's config template %s: %w", e.Spec.Name, path, err)
	}
	var b bytes.Buffer
	b.WriteString(strings.TrimRight(text, "\n"))
	b.WriteString("\n# the cell's broker keys (the lab)\n")
	for _, kv := range keys {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], kv[1])
	}
	return b.Bytes(), nil
}

func render(text string, vars ExternalVars) (string, error) {
	t, err := template.New("").Option("missingkey=error").Parse(text)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, vars); err != nil {
		return "", err
	}
	return b.String(), nil
}

// overrideKeys reads Settings.Overrides' "--override k=v" pairs back.
func overrideKeys(args []string) ([][2]string, error) {
	var out [][2]string
	for i := 0; i < len(args); i++ {
		if args[i] != "--override" || i+1 == len(args) {
			return nil, errors.New("broker overrides: want --override key=value pairs, got " + strconv.Quote(strings.Join(args, " ")))
		}
		k, v, _ := strings.Cut(args[i+1], "=")
		out = append(out, [2]string{k, v})
		i++
	}
	return out, nil
}
