// Package testutil holds the helpers every package's tests share: gating
// privileged tests, polling for a condition, golden files, and building
// the project's commands.
package testutil

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"
)

// RequirePrivilegedEnv is the environment variable that turns a privileged
// test's skip into a failure. .ci/run sets it, so a machine that cannot run
// the privileged tests never passes as a row of green skips.
const RequirePrivilegedEnv = "LAB_REQUIRE_PRIVILEGED"

// SkipPrivilegedEnv is the environment variable that makes a root process
// skip the privileged tests as if it were not root: for running the rest of
// the suite beside a measurement that the host-changing tests (sysctls,
// mounts, cgroups, dropped caches, attached probes) would disturb. It has
// no effect under LAB_REQUIRE_PRIVILEGED=1.
const SkipPrivilegedEnv = "LAB_SKIP_PRIVILEGED"

// RequirePrivileged skips the test unless the process runs as root. what
// names what the test needs (for example "mkfs and mount of a loop device").
// With LAB_REQUIRE_PRIVILEGED=1 a missing privilege fails the test instead.
func RequirePrivileged(tb testing.TB, what string) {
	tb.Helper()
	if os.Geteuid() == 0 {
		if !PrivilegedSkipped() {
			return
		}
		tb.Skipf("needs root for %s; skipped because %s=1", what, SkipPrivilegedEnv)
	}
	Unavailable(tb, "needs root for %s; run as root (sudo -E go test ./...)", what)
}

// PrivilegedSkipped reports whether LAB_SKIP_PRIVILEGED=1 asks a root
// process to leave the host alone (and LAB_REQUIRE_PRIVILEGED=1 does not
// overrule it): for optional privileged work inside a test or benchmark
// that should not skip as a whole.
func PrivilegedSkipped() bool {
	return os.Getenv(SkipPrivilegedEnv) == "1" && os.Getenv(RequirePrivilegedEnv) != "1"
}

// Unavailable skips the test with the formatted reason, or fails it when
// LAB_REQUIRE_PRIVILEGED=1 is set: use it for any missing prerequisite that
// CI is expected to provide (a kernel feature, an installed client).
func Unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv(RequirePrivilegedEnv) == "1" {
		tb.Fatalf("%s=1 but: "+format, append([]any{RequirePrivilegedEnv}, args...)...)
	}
	tb.Skipf(format, args...)
}

// RequireFUSE skips (or, under LAB_REQUIRE_PRIVILEGED=1, fails) the test
// unless it runs as root, as RequirePrivileged, on a machine with
// /dev/fuse: what names the FUSE mount the test needs (for example "the
// power-cut filesystem").
func RequireFUSE(tb testing.TB, what string) {
	tb.Helper()
	RequirePrivileged(tb, what)
	if _, err := os.Stat("/dev/fuse"); err != nil {
		Unavailable(tb, "/dev/fuse: %v", err)
	}
}

// RequireCommand skips (or, under LAB_REQUIRE_PRIVILEGED=1, fails) the test
// when the named program is not on PATH, and returns its path otherwise.
func RequireCommand(tb testing.TB, name, install string) string {
	tb.Helper()
	p, err := lookPath(name)
	if err != nil {
		Unavailable(tb, "%s not found on PATH; install it with: %s", name, install)
	}
	return p
}

// GoBuild builds the main packages pkgs (as go build names them, relative
// to the test's package directory) into outDir, created if need be, and
// returns outDir; the binaries carry their packages' names (broker, lab).
// It skips the test, like RequireCommand, where there is no Go toolchain.
func GoBuild(tb testing.TB, outDir string, pkgs ...string) string {
	tb.Helper()
	goCmd := RequireCommand(tb, "go", "install Go")
	args := append([]string{"build", "-o", outDir + string(filepath.Separator)}, pkgs...)
	if out, err := exec.Command(goCmd, args...).CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", strings.Join(pkgs, " "), err, out)
	}
	return outDir
}

// BuildBroker builds the project's broker (cmd/broker of the module the
// test runs in) into a temporary directory and returns the binary's path.
func BuildBroker(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(GoBuild(tb, tb.TempDir(), filepath.Join(moduleRoot(tb), "cmd", "broker")), "broker")
}

// moduleRoot is the directory of the go.mod above the test's package
// directory (go test runs a test there).
func moduleRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatalf("no go.mod above the test's directory")
		}
		dir = parent
	}
}

func lookPath(name string) (string, error) {
	if strings.ContainsRune(name, '/') {
		if _, err := os.Stat(name); err != nil {
			return "", err
		}
		return name, nil
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", os.ErrNotExist
}

// WaitFor polls fn every few milliseconds until it returns nil or timeout
// passes, then fails the test with fn's last error.
func WaitFor(tb testing.TB, timeout time.Duration, fn func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	delay := time.Millisecond
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met within %v: %v", timeout, err)
		}
		time.Sleep(delay)
		if delay < 100*time.Millisecond {
			delay *= 2
		}
	}
}

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// Golden compares got with testdata/<test name>.golden, or rewrites the file
// when the test binary runs with -update.
func Golden(tb testing.TB, got []byte) {
	tb.Helper()
	name := strings.ReplaceAll(tb.Name(), "/", "_") + ".golden"
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("reading golden file (run the test with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		tb.Errorf("%s mismatch (-want +got), rerun with -update if the change is intended:\n%s", path, diff)
	}
}

// WriteFile writes content to path, making its parent directories: a fake
// /proc, /sys or result tree, file by file.
func WriteFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// StringOrNil is *s, or <nil> where s is nil: an optional string of a
// Kafka message (an error message, commit metadata) in a test's report.
func StringOrNil(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// Contains fails the test for each of wants that text, named what in the
// message (the output, a README.md), lacks, and shows the text.
func Contains(tb testing.TB, what, text string, wants ...string) {
	tb.Helper()
	for _, want := range wants {
		if !strings.Contains(text, want) {
			tb.Errorf("%s lacks %q:\n%s", what, want, text)
		}
	}
}

// PollRecords polls cl until it has handed n records to each, in the order
// they came; a fetch error or the end of ctx fails the test.
func PollRecords(ctx context.Context, tb testing.TB, cl *kgo.Client, n int, each func(r *kgo.Record)) {
	tb.Helper()
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			tb.Fatalf("consumed %d of %d records: %v", got, n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { tb.Fatalf("fetching %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			got++
			each(r)
		})
	}
}
