package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brokerlab/brokerlab/internal/rdkperf"
	"github.com/brokerlab/brokerlab/internal/testutil"
)

// TestBenchSkipsAStageItCannotRun runs lab bench's versus stage where
// neither rdkafka_performance nor kfake exists: the bench must end without
// an error, say it skipped the stage and how to run it, and write that to
// the run's README.md.
func TestBenchSkipsAStageItCannotRun(t *testing.T) {
	testutil.RequireCommand(t, "go", "install Go")
	tmp := t.TempDir()
	bin := testutil.GoBuild(t, filepath.Join(tmp, "bin"), "./")
	out := filepath.Join(tmp, "results")
	cmd := exec.Command(filepath.Join(bin, "lab"), "bench", "-stages", "versus", "-out", out, "-root", "../..")
	// No rdkafka_performance on PATH or beside the binary.
	cmd.Env = append(os.Environ(), "PATH=/usr/bin:/bin", rdkperf.EnvPath+"=")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("lab bench without rdkafka_performance: %v\n%s", err, b)
	}
	testutil.Contains(t, "output", string(b), "skipped versus: rdkafka_performance not found", ">> to run them: ")
	readmes, _ := filepath.Glob(filepath.Join(out, "*", "README.md"))
	if len(readmes) != 1 {
		t.Fatalf("want one README.md under %s, got %v", out, readmes)
	}
	md, err := os.ReadFile(readmes[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "## Stages not run in full") || !strings.Contains(string(md), "skipped versus") {
		t.Errorf("README.md does not say which stage was skipped:\n%s", md)
	}
}
