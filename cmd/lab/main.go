// Command lab is the performance lab: it drives load, attaches probes, runs
// tuning sweeps and writes reports. Each subcommand lives in its own file and
// registers itself in commands.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one lab subcommand.
type command struct {
	summary string
	// run parses args (the words after the subcommand) and runs it.
	run func(ctx context.Context, logger *slog.Logger, args []string) error
}

// commands is filled by the init functions of the subcommand files.
var commands = map[string]command{}

func register(name string, c command) {
	if _, dup := commands[name]; dup {
		panic("lab: subcommand registered twice: " + name)
	}
	commands[name] = c
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: lab [-log.level LEVEL] [-log.format text|json] COMMAND [ARGS]\n\ncommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(os.Stderr, "\nrun 'lab COMMAND -h' for a command's flags\n")
}

func main() {
	fs := flag.NewFlagSet("lab", flag.ExitOnError)
	level := fs.String("log.level", "info", "log level: debug, info, warn, error")
	format := fs.String("log.format", "text", "log format: text or json")
	fs.Usage = usage
	_ = fs.Parse(os.Args[1:])
	if fs.NArg() == 0 {
		usage()
		os.Exit(2)
	}
	logger, err := newLogger(*level, *format)
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := c.run(ctx, logger, fs.Args()[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "lab %s: %v\n", name, err)
		os.Exit(1)
	}
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log.level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("-log.format %q: want text or json", format)
}
