package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/brokerlab/brokerlab/bench"
	"github.com/brokerlab/brokerlab/internal/rdkperf"
)

// The pieces every experiment subcommand shares between its flag parsing
// and its one library call: where the binaries are, the work directory, and
// where the report goes.

// executableDir is the directory of the running lab binary, where make
// puts the broker beside it.
func executableDir() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	exe, err = filepath.EvalSymlinks(exe)
	if err != nil {
		return "", err
	}
	return filepath.Dir(exe), nil
}

// workDir returns dir, or a new temporary directory named after prefix when
// dir is "". The returned func removes the directory if workDir made it, and
// does nothing for one the user named.
func workDir(dir, prefix string) (string, func(), error) {
	if dir != "" {
		return dir, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}

// experiment holds the flags every experiment subcommand has: -out, under
// which results/<timestamp>-<name>/ is written, and -work-dir, where the
// experiment's broker writes its log.
type experiment struct {
	name      string
	out, work *string
}

// newExperiment is the flag set of the experiment subcommand name (newFlags)
// with -out and -work-dir added; workUsage is -work-dir's usage (what the
// directory needs).
func newExperiment(name, workUsage string) (*flag.FlagSet, *experiment) {
	fs := newFlags(name)
	return fs, &experiment{
		name: name,
		out:  fs.String("out", "results", "directory under which results/<timestamp>-"+name+"/ is written"),
		work: fs.String("work-dir", "", workUsage),
	}
}

// dirs returns where the experiment runs: executableDir, where the broker
// binary is, and the work directory, -work-dir or a new temporary directory
// that cleanup removes.
func (e *experiment) dirs() (env runEnv, cleanup func(), err error) {
	if env.bin, err = executableDir(); err != nil {
		return runEnv{}, nil, err
	}
	env.dir, cleanup, err = workDir(*e.work, "brokerlab-"+e.name+"-")
	return env, cleanup, err
}

// runEnv is where an experiment runs: bin is the lab binary's directory,
// with the broker and kfake beside it, and dir the work directory.
type runEnv struct{ bin, dir string }

// binary is the path of the program name beside the lab binary.
func (e runEnv) binary(name string) string { return filepath.Join(e.bin, name) }

// rdkPerf finds rdkafka_performance (rdkperf.Find), in the bin/ directory
// of the checkout when the lab binary is there.
func (e runEnv) rdkPerf() (string, error) { return rdkperf.Find(filepath.Dir(e.bin)) }

// runExperiment is an experiment subcommand after its flags: it makes the
// work directory (dirs), has run do the experiment there and, when run
// returned a report, has save write it into a new run directory under -out
// and print its summary to stdout. It returns run's error, or the error that
// kept the report from being saved.
func runExperiment[R any](e *experiment, run func(env runEnv) (*R, error), save func(rep *R, runDir, workDir string, stdout io.Writer) error) error {
	env, cleanup, err := e.dirs()
	if err != nil {
		return err
	}
	defer cleanup()
	rep, runErr := run(env)
	if rep == nil {
		return runErr
	}
	return e.save(runErr, func(runDir string) error { return save(rep, runDir, env.dir, os.Stdout) })
}

// overridesFlag adds -override to fs: extra server.properties lines for the
// broker.
func overridesFlag(fs *flag.FlagSet) *stringList {
	var overrides stringList
	fs.Var(&overrides, "override", "extra broker server.properties line key=value (repeatable)")
	return &overrides
}

// brokerEnvFlag is -broker-env: KEY=VALUE added to the broker's
// environment, for the Go runtime's settings (GOMAXPROCS, GOGC, GODEBUG).
func brokerEnvFlag(fs *flag.FlagSet) *stringList {
	var env stringList
	fs.Var(&env, "broker-env", "KEY=VALUE added to the broker's environment (repeatable), e.g. GOMAXPROCS=1; the other servers and the clients run without it")
	return &env
}

// save is saveReport into -out under the experiment's name.
func (e *experiment) save(runErr error, save func(dir string) error) error {
	return saveReport(*e.out, "-"+e.name, runErr, save)
}

// saveReport makes out/<timestamp><suffix>/, has save write the report
// there, says where, and returns runErr (the run's own error) when saving
// worked.
func saveReport(out, suffix string, runErr error, save func(dir string) error) error {
	runDir, err := bench.NewRunDir(out, suffix)
	if err != nil {
		return err
	}
	if err := save(runDir); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, ">> results in %s\n", runDir)
	return runErr
}

// intList parses "1,100,1000".
func intList(flag, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%s %q: %q is not a number", flag, s, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// splitList splits a comma-separated flag value, dropping empty fields.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
