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

	"github.com/brokerlab/brokerlab/procsample"
	"github.com/brokerlab/brokerlab/tuning/check"
)

// errWarned is lab check -strict's error when a setting warned.
var errWarned = errors.New("settings warned (-strict)")

func runCheck(_ context.Context, _ *slog.Logger, args []string) error {
	fs := newFlags("check")
	config := fs.String("config", "", "the broker's server.properties: its log.dirs are checked, and its keys against a run's server.properties findings")
	logDirs := fs.String("log-dir", "", "comma-separated log directories to check (default: -config's log.dirs)")
	run := fs.String("run", "", "the lab run (a result dir of lab sweep or lab ab) whose findings (apply/ files) advise over the seed's and whose "+
		"verdicts are shown; \"none\" for the seed's advice alone (default: the newest tune-* or ab-fs-* under -results)")
	fs.StringVar(run, "guide", "", "deprecated spelling of -run")
	results := fs.String("results", "results", "where -run's default looks for runs")
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
	dir := *run
	if dir == "" {
		newest, err := check.NewestRun(*results)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("finding the newest run under %s: %w", *results, err)
		}
		if newest == "" {
			fmt.Fprintf(os.Stderr, "lab check: no tune-* or ab-fs-* run under %s: the seed's advice alone\n", *results)
		}
		dir = newest
	}
	if dir != "" && dir != "none" {
		adv, verdicts, err := check.FromRun(dir, procsample.ReadHostCaps(*procRoot, *sysRoot, "/lib/modules"))
		if err != nil {
			return fmt.Errorf("-run %s: %w", dir, err)
		}
		cfg.Advice, cfg.Verdicts = adv, verdicts
		if !*asJSON {
			fmt.Fprintf(os.Stderr, "lab check: advice of the seed and of lab run %s (-run none for the seed's alone)\n", dir)
		}
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
	t.Header([]string{"setting", "current", "advised", "source", "status", "run verdict", "evidence"})
	for _, r := range rows {
		if err := t.Append([]string{r.Setting, r.Current, r.Advised, r.Source, r.Status, r.Verdict, shorten(r.Evidence, evidenceWidth)}); err != nil {
			return err
		}
	}
	return t.Render()
}

// evidenceWidth is how much of a verdict's evidence the table shows; -json
// has all of it, and the run's guide.md names every number.
const evidenceWidth = 160

// shorten cuts s to n runes, marking the cut.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
