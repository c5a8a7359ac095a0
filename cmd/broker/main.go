// Command broker runs brokerlab's Kafka-compatible broker, used like
// Kafka's start script:
//
//	broker config/server.properties [--override key=value ...]
//	broker --check config/server.properties [--override key=value ...]
//
// --check prints the effective configuration and exits non-zero when it
// has errors (all of them at once). SIGINT or SIGTERM drain the
// connections, flush the log and leave the clean-shutdown marker.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/brokerlab/brokerlab/broker"
	"github.com/brokerlab/brokerlab/internal/logging"
)

// overrides collects repeated --override key=value flags.
type overrides []string

func (o *overrides) String() string     { return strings.Join(*o, ",") }
func (o *overrides) Set(v string) error { *o = append(*o, v); return nil }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	var (
		ovr       overrides
		check     = fs.Bool("check", false, "print the effective configuration and exit; non-zero exit on errors")
		logLevel  = fs.String("log.level", "info", "log level: debug, info, warn, error")
		logFormat = fs.String("log.format", "text", "log format: text or json")
	)
	fs.Var(&ovr, "override", "key=value that overrides server.properties (repeatable)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: broker [flags] server.properties [--override key=value ...]\n       broker --check server.properties [--override key=value ...]\n\n")
		fs.PrintDefaults()
	}
	// Flags may follow the file name, as with Kafka's start script.
	var files []string
	for rest := args; ; {
		if err := fs.Parse(rest); errors.Is(err, flag.ErrHelp) {
			return 0 // -h: the usage was asked for
		} else if err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(files) != 1 {
		fs.Usage()
		return 2
	}
	logger, err := logging.New(os.Stderr, *logLevel, *logFormat)
	if err != nil {
		fmt.Fprintln(os.Stderr, "broker:", err)
		return 2
	}

	cfg, warnings, err := broker.LoadConfig(files[0], ovr)
	for _, w := range warnings {
		logger.Warn("config", "warning", w)
	}
	if *check {
		for _, line := range cfg.Properties() {
			fmt.Println(line)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "broker: %v\n", err)
			return 1
		}
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "broker: %v\n", err)
		return 1
	}
	cfg.Logger = logger
	// Process-wide profiling rates belong to main (0 leaves them off).
	runtime.SetMutexProfileFraction(cfg.PprofMutexFraction)
	runtime.SetBlockProfileRate(cfg.PprofBlockRate)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := broker.New(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "broker: %v\n", err)
		return 1
	}
	if err := b.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "broker: %v\n", err)
		return 1
	}
	logger.Info("broker stopped cleanly")
	return 0
}
