package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/brokerlab/brokerlab/loadgen"
)

func init() {
	register("report", command{
		summary: "render load results side by side (table, -markdown) and draw charts (-charts DIR)",
		run:     runReport,
	})
}

func runReport(_ context.Context, _ *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	markdown := fs.Bool("markdown", false, "render a Markdown table instead of a terminal table")
	charts := fs.String("charts", "", "write latency-quantile and throughput charts (PNG and SVG) into this directory")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return errors.New("usage: lab report [-markdown] [-charts DIR] RESULT.json...")
	}
	var results []*loadgen.Result
	for _, f := range files {
		r, err := loadgen.ReadResult(f)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	if err := loadgen.RenderTable(os.Stdout, results, *markdown); err != nil {
		return err
	}
	if *charts != "" {
		written, err := loadgen.WriteCharts(*charts, results)
		if err != nil {
			return err
		}
		for _, f := range written {
			fmt.Fprintf(os.Stderr, "wrote %s\n", f)
		}
	}
	return nil
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments, and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
