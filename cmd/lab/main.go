// Command lab is the performance lab: it drives load, attaches probes, runs
// tuning sweeps and writes reports. Each subcommand lives in its own file and
// is listed in commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/brokerlab/brokerlab/internal/logging"
	"github.com/brokerlab/brokerlab/loadgen"
	"github.com/brokerlab/brokerlab/procsample"
)

// command is one lab subcommand.
type command struct {
	summary string
	// args is the synopsis after the flags in the usage header ("DIR",
	// "RESULT.json...").
	args string
	// run parses args (the words after the subcommand) and runs it.
	run func(ctx context.Context, logger *slog.Logger, args []string) error
}

// commands are lab's subcommands by name.
var commands map[string]command

func init() {
	// Set here rather than in the declaration: the run functions' -h reads
	// commands (newFlags).
	commands = map[string]command{
		"ab": planCommand("ab", "plans/ab-fs.yaml", "A/B test XFS vs EXT4 (plans/ab-fs.yaml, or -plan): tables and guide under -out"),
		"abuse": {
			summary: "soak: a well-behaved producer and consumer beside misbehaving clients; throughput ratio, broker RSS, fds, goroutines, no acked record lost",
			run:     runAbuse,
		},
		"bench": {
			summary: "the main job (make bench): ceilings, broker vs kfake, max rate and half of it, the quick tuning plan",
			run:     runBench,
		},
		"ceilings": {
			args:    "DIR",
			summary: "measure the machine's limits: write, write+fsync on DIR, sendfile and TCP over loopback",
			run:     runCeilings,
		},
		"check": {
			summary: "compare this host's settings with the seed's advice or a lab run's findings (like rpk redpanda check)",
			run:     runCheck,
		},
		"fetch": {
			summary: "fill one partition and read it back in sendfile and copy fetch modes with rdkafka_performance and the null consumer: MB/s, broker CPU/GB, RSS, share of the sendfile ceiling",
			run:     runFetch,
		},
		"fetch-isolation": {
			summary: "fill one partition with transactions and read it back at read_uncommitted and read_committed, broker CPU per GB",
			run:     runFetchIsolation,
		},
		"guide": {
			args:    "RESULT_DIR",
			summary: "re-render the tables and the tuning guideline of a sweep's result dir",
			run:     runGuide,
		},
		"kill": {
			summary: "SIGKILL the broker at random moments under acks=all load; check no acknowledged record is lost",
			run:     runKill,
		},
		"load": {
			summary: "run an OMB-shaped workload against a broker and write a JSON result",
			run:     runLoad,
		},
		"powercut": {
			summary: "cut the power under acks=all load on a FUSE power-cut filesystem; count acknowledged records lost per flush policy",
			run:     runPowercut,
		},
		"probe": {
			args:    "[FAMILY...] [-- command args] (families: fsync pagecache swap sockbuf sendfile; default all)",
			summary: "attach eBPF probes (fsync, pagecache, swap, sockbuf, sendfile) and show them next to /proc each interval",
			run:     runProbe,
		},
		"probe-cost": {
			summary: "what the eBPF probes cost the broker at a fixed rate: server CPU/GB and publish p99, all probes vs none, interleaved pairs (root)",
			run:     runProbeCost,
		},
		"recovery": {
			summary: "build a large log, SIGKILL the broker, time cold and warm restarts by num.recovery.threads.per.data.dir",
			run:     runRecovery,
		},
		"report": {
			args:    "RESULT.json...",
			summary: "render load results side by side (table, -markdown) and draw charts (-charts DIR)",
			run:     runReport,
		},
		"requests": {
			summary: "compare broker builds' CPU per request and per GB at a held rate (interleaved)",
			run:     runRequests,
		},
		"restore": {
			summary: "undo host changes a crashed or killed lab run left in its journal, and print them",
			run:     runRestore,
		},
		"sweep": planCommand("sweep", "plans/tune.yaml", "run a tuning plan (default plans/tune.yaml): tables and guide under -out"),
		"versus": {
			summary: "broker vs kfake with rdkafka_performance by record size and partitions: MB/s, server CPU/GB and peak RSS, interleaved pairs",
			run:     runVersus,
		},
	}
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: lab [-log.level LEVEL] [-log.format text|json] [-version] COMMAND [ARGS]\n\ncommands:\n")
	names := make([]string, 0, len(commands))
	width := 0
	for n := range commands {
		names = append(names, n)
		width = max(width, len(n))
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-*s %s\n", width, n, commands[n].summary)
	}
	fmt.Fprintf(os.Stderr, "\nrun 'lab COMMAND -h' for a command's flags\n")
}

func main() {
	// The loopback ceilings' reader is this binary run again as another
	// process (a client never shares the server's process).
	if loadgen.InitCeilingReader() {
		return
	}
	fs := flag.NewFlagSet("lab", flag.ContinueOnError)
	level := fs.String("log.level", "info", "log level: debug, info, warn, error")
	format := fs.String("log.format", "text", "log format: text or json")
	version := fs.Bool("version", false, "print the version (module, commit, Go) and exit")
	fs.Usage = usage
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(exitCode(usageError{err}))
	}
	if *version {
		fmt.Println("lab", procsample.ReadBuild())
		return
	}
	if fs.NArg() == 0 {
		usage()
		os.Exit(2)
	}
	logger, err := logging.New(os.Stderr, *level, *format)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		os.Exit(2)
	}
	name := fs.Arg(0)
	if name == "help" {
		usage()
		return
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "lab: unknown command %q\n\n", name)
		usage()
		os.Exit(2)
	}
	ctx, stop := notifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = c.run(ctx, logger, fs.Args()[1:])
	if sig, ok := context.Cause(ctx).(signalError); ok {
		// Whatever the command made of it, a run a signal cut short is not a
		// complete run: say so, and exit as a shell reports a death by that
		// signal (128+n: 130 for Ctrl-C, 143 for SIGTERM) so that scripts and
		// make stop.
		if err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(os.Stderr, "lab %s: %v\n", name, err)
		}
		fmt.Fprintf(os.Stderr, "lab %s: interrupted by %v; what finished before it is kept\n", name, sig.Signal)
		stop()
		os.Exit(128 + int(sig.Signal))
	}
	if err != nil {
		if code := exitCode(err); code != 1 {
			stop()
			os.Exit(code)
		}
		fmt.Fprintf(os.Stderr, "lab %s: %v\n", name, err)
		os.Exit(1)
	}
}

// signalError is the cause of a context a signal ended.
type signalError struct{ Signal syscall.Signal }

func (e signalError) Error() string { return "interrupted by " + e.Signal.String() }

// notifyContext is signal.NotifyContext with the signal kept as the
// context's cause, so that main can exit with the signal's status. Later
// signals are still caught (and ignored) until stop: the command is
// restoring the host by then, and a second Ctrl-C must not cut that short
// (lab restore finishes it if the process is killed).
func notifyContext(parent context.Context, sigs ...os.Signal) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			sig, _ := s.(syscall.Signal)
			cancel(signalError{sig})
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel(context.Canceled)
		})
	}
}

// usageError is a flag the flag package refused; it has printed why and the
// command's usage already.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitCode maps an error to lab's exit status: 0 for -h, 2 for a bad flag,
// 1 for everything else.
func exitCode(err error) int {
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		return 2
	}
	return 1
}

// newFlags returns the flag set of subcommand name. Every subcommand's -h
// prints the same header: the synopsis, the one-line summary, the flags.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("lab "+name, flag.ContinueOnError)
	fs.Usage = func() {
		c := commands[name]
		fmt.Fprintf(fs.Output(), "usage: %s\n\n%s\n\nflags:\n", strings.TrimSpace("lab "+name+" [flags] "+c.args), c.summary)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args with fs, flags before, between or after the
// positional arguments, and returns the positional arguments. A -h or a bad
// flag comes back as an error main turns into exit status 0 or 2.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// stringList is a repeatable string flag (-override k=v -override k2=v2).
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }
