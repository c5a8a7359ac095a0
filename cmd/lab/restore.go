package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/brokerlab/brokerlab/tuning/host"
)

func runRestore(_ context.Context, logger *slog.Logger, args []string) error {
	fs := newFlags("restore")
	state := fs.String("state", "", "state directory holding the journal (default $"+host.StateDirEnv+" or "+host.DefaultStateDir+"; without root $XDG_STATE_HOME/brokerlab/journal or ~/.cache/brokerlab/journal)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg := host.Config{StateDir: *state, Logger: logger}
	undone, err := host.Restore(cfg)
	for _, u := range undone {
		fmt.Println(u)
	}
	if err != nil {
		return err
	}
	if len(undone) == 0 {
		fmt.Fprintln(os.Stderr, "nothing to restore: the journal is empty")
	} else {
		fmt.Fprintf(os.Stderr, "restored %d journaled changes\n", len(undone))
	}
	return nil
}
