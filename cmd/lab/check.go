package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/brokerlab/brokerlab/tuning/check"
)

func init() {
	register("check", command{
		summary: "compare this host's settings with the seed's advice or a lab run's findings (like rpk redpanda check)",
		run:     runCheck,
	})
}

// errWarned is lab check -strict's error when a setting warned.
var errWarned = errors.New("settings warned (-strict)")

func runCheck(_ context.Context, _ *slog.Logger, args []string) error {
	fs := newFlags("check")
	config := fs.String("config", "", "the broker's server.properties: its log.dirs are checked, and its keys against a run's server.properties findings")
	logDirs := fs.String("log-dir", "", "comma-separated log directories to check (default: -config's log.dirs)")
	guide := fs.String("guide", "", "a result dir of lab sweep or lab ab: its apply/ files (the findings) are the advice, over the seed's")
	pid := fs.Int("pid", 0, "the broker's pid, whose open-file limit is read (default: lab's own)")
	procRoot := fs.String("proc", "/proc", "procfs root")
	sysRoot := fs.String("sys", "/sys", "sysfs root")
	asJSON := fs.Bool("json", false, "print the rows as JSON")
	strict := fs.Bool("strict", false, "exit non-zero when any setting warns")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg := check.Config{ProcRoot: *procRoot, SysRoot: *sysRoot, PID: *pid}
	if *config != "" {
		props, err := check.ReadProperties(*config)
		if err != nil {
			return fmt.Errorf("-config %s: %w", *config, err)
		}
		cfg.Properties = props
		cfg.LogDirs = check.LogDirsOf(props)
	}
	if *logDirs != "" {
		cfg.LogDirs = strings.Split(*logDirs, ",")
	}
	if *guide != "" {
		adv, err := check.FromApply(*guide)
		if err != nil {
			return fmt.Errorf("-guide %s: %w", *guide, err)
		}
		cfg.Advice = adv
	}
	rows, err := check.Run(cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return err
		}
	} else if err := writeCheckTable(os.Stdout, rows); err != nil {
		return err
	}
	if *strict && slices.ContainsFunc(rows, func(r check.Row) bool { return r.Status == check.Warn }) {
		return errWarned
	}
	return nil
}

func writeCheckTable(w io.Writer, rows []check.Row) error {
	t := tablewriter.NewTable(w,
		tablewriter.WithRenderer(renderer.NewMarkdown()),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
	)
	t.Header([]string{"setting", "current", "advised", "source", "status"})
	for _, r := range rows {
		if err := t.Append([]string{r.Setting, r.Current, r.Advised, r.Source, r.Status}); err != nil {
			return err
		}
	}
	return t.Render()
}
