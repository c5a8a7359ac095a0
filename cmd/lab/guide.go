package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"path/filepath"

	"github.com/brokerlab/brokerlab/tuning"
)

func init() {
	register("guide", command{
		summary: "re-render the tables and the tuning guideline of a sweep's result dir",
		run:     runGuide,
	})
}

func runGuide(_ context.Context, _ *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("lab guide", flag.ExitOnError)
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		return errors.New("usage: lab guide RESULT_DIR (a directory written by lab sweep or lab ab)")
	}
	dir := fs.Arg(0)
	plan, err := tuning.LoadPlan(filepath.Join(dir, "plan.yaml"))
	if err != nil {
		return err
	}
	return writeReports(dir, plan)
}
