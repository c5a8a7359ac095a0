package main

import (
	"context"
	"log/slog"
	"os"
	"testing"
)

func TestWorkDirRemovesOnlyWhatItMade(t *testing.T) {
	named := t.TempDir()
	dir, cleanup, err := workDir(named, "lab-test-")
	if err != nil || dir != named {
		t.Fatalf("workDir(%q) = %q, %v", named, dir, err)
	}
	cleanup()
	if _, err := os.Stat(named); err != nil {
		t.Errorf("cleanup removed the directory the user named: %v", err)
	}

	tmp, cleanup, err := workDir("", "lab-test-")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(tmp); err != nil || !fi.IsDir() {
		t.Fatalf("workDir made %q: %v", tmp, err)
	}
	cleanup()
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("cleanup left the temporary %s: %v", tmp, err)
	}
}

// TestExperimentsTakeWorkDir: every subcommand that runs a broker on a log
// of its own spells the log's place -work-dir.
func TestExperimentsTakeWorkDir(t *testing.T) {
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = devNull // the -h usage text
	t.Cleanup(func() { os.Stderr = stderr; devNull.Close() })
	for _, name := range []string{"abuse", "fetch", "fetch-isolation", "kill", "probe-cost", "recovery", "requests", "versus"} {
		c, ok := commands[name]
		if !ok {
			t.Errorf("no subcommand %s", name)
			continue
		}
		// A known flag lets parsing reach -h (exit 0); an unknown one stops it (exit 2).
		err := c.run(context.Background(), slog.New(slog.DiscardHandler), []string{"-work-dir", t.TempDir(), "-h"})
		if code := exitCode(err); code != 0 {
			t.Errorf("lab %s -work-dir DIR -h: %v (exit status %d), want 0", name, err, code)
		}
	}
}
