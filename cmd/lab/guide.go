package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/brokerlab/brokerlab/tuning"
	"github.com/brokerlab/brokerlab/tuning/sweep"
)

func runGuide(_ context.Context, _ *slog.Logger, args []string) error {
	fs := newFlags("guide")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("usage: lab guide RESULT_DIR (a directory written by lab sweep or lab ab)")
	}
	dir := pos[0]
	plan, err := tuning.LoadPlan(filepath.Join(dir, "plan.yaml"))
	if err != nil {
		return err
	}
	return sweep.WriteReports(dir, plan, os.Stdout, os.Stderr)
}
