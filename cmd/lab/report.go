package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/brokerlab/brokerlab/internal/fsutil"
	"github.com/brokerlab/brokerlab/loadgen"
)

func runReport(_ context.Context, _ *slog.Logger, args []string) error {
	fs := newFlags("report")
	format := fs.String("format", "table", "table (terminal), markdown, or omb (OpenMessaging Benchmark's result JSON, which OMB's chart scripts read)")
	markdown := fs.Bool("markdown", false, "same as -format markdown")
	out := fs.String("out", "", "with -format omb: write one <name>.omb.json per result into this directory (default: stdout, one result)")
	charts := fs.String("charts", "", "write latency-quantile and throughput charts (PNG and SVG) into this directory")
	files, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return errors.New("usage: lab report [-format table|markdown|omb] [-out DIR] [-charts DIR] RESULT.json...")
	}
	if *markdown {
		*format = "markdown"
	}
	switch *format {
	case "table", "markdown", "omb":
	default:
		return fmt.Errorf("-format %q: want table, markdown or omb", *format)
	}
	var results []*loadgen.Result
	for _, f := range files {
		r, err := loadgen.ReadResult(f)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	if *format == "omb" {
		if err := writeOMB(files, results, *out); err != nil {
			return err
		}
	} else if err := loadgen.RenderTable(os.Stdout, results, *format == "markdown"); err != nil {
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

// writeOMB writes each result in OMB's format: to stdout when there is one
// and no directory, else as DIR/<input base name>.omb.json.
func writeOMB(files []string, results []*loadgen.Result, dir string) error {
	if dir == "" {
		if len(results) != 1 {
			return fmt.Errorf("-format omb with %d results: name a directory with -out DIR", len(results))
		}
		return results[0].WriteOMB(os.Stdout)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, r := range results {
		path := filepath.Join(dir, strings.TrimSuffix(filepath.Base(files[i]), ".json")+".omb.json")
		if err := fsutil.WriteFileWith(path, func(f *os.File) error { return r.WriteOMB(f) }); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", path)
	}
	return nil
}
