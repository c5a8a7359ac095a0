package e2e

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/internal/launch"
)

// TestKgoSuite runs franz-go's own pkg/kgo integration tests (built from
// the module cache at the version go.mod requires) against the broker,
// with KGO_SEEDS pointing at it and a replication factor of 1. By default
// it runs the transaction and regex-consumer scenarios, TestTxnEtl with
// and without KGO_TEST_CHAOS=1 (50,000 records), and TestConsumeRegex;
// BROKERLAB_KGO_RUN sets another -test.run pattern (`make test-kgo` runs
// the whole suite but the KIP-848 and share-group tests, which this
// broker does not implement) and BROKERLAB_KGO_RECORDS the records per
// scenario (the suite's default is 500,000).
func TestKgoSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("franz-go's integration suite takes minutes")
	}
	dir := t.TempDir()
	suite := filepath.Join(dir, "kgo.test")
	build := exec.Command("go", "test", "-c", "-o", suite, "github.com/twmb/franz-go/pkg/kgo")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building franz-go's kgo tests: %v\n%s", err, out)
	}
	// The tests run in their package's source directory, as go test runs
	// them (one parses config.go).
	list := exec.Command("go", "list", "-f", "{{.Dir}}", "github.com/twmb/franz-go/pkg/kgo")
	list.Dir = repoRoot(t)
	pkgDir, err := list.Output()
	if err != nil {
		t.Fatalf("finding franz-go's kgo source: %v", err)
	}
	ctx := context.Background()
	p, err := launch.StartBroker(ctx, launch.Broker{Path: bin("broker"), Dir: dir, Label: "kgo", StartTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Stop(time.Minute); err != nil {
			t.Errorf("stopping the broker: %v", err)
		}
	}()

	records := os.Getenv("BROKERLAB_KGO_RECORDS")
	type pass struct {
		run, skip string
		chaos     bool
	}
	passes := []pass{{run: "^(TestTxnEtl|TestConsumeRegex)$"}, {run: "^TestTxnEtl$", chaos: true}}
	if records == "" {
		records = "50000"
	}
	if run := os.Getenv("BROKERLAB_KGO_RUN"); run != "" {
		passes = []pass{{run: run, skip: "848|Share"}}
		if os.Getenv("BROKERLAB_KGO_RECORDS") == "" {
			records = ""
		}
	}
	for _, ps := range passes {
		args := []string{"-test.run", ps.run, "-test.v", "-test.count=1", "-test.timeout=60m"}
		if ps.skip != "" {
			args = append(args, "-test.skip", ps.skip)
		}
		cmd := exec.CommandContext(ctx, suite, args...)
		cmd.Dir = strings.TrimSpace(string(pkgDir))
		cmd.Env = append(os.Environ(), "KGO_SEEDS="+p.Addr(), "KGO_TEST_RF=1", "KGO_LOG_LEVEL=none")
		if records != "" {
			cmd.Env = append(cmd.Env, "KGO_TEST_RECORDS="+records)
		}
		if ps.chaos {
			cmd.Env = append(cmd.Env, "KGO_TEST_CHAOS=1")
		}
		out, runErr := cmd.CombinedOutput()
		res := parseGoTestResults(out)
		name := ps.run
		if ps.chaos {
			name += " (KGO_TEST_CHAOS=1)"
		}
		t.Logf("%s: %d passed, %d failed, %d skipped", name, len(res["PASS"]), len(res["FAIL"]), len(res["SKIP"]))
		for _, n := range res["PASS"] {
			t.Logf("  pass %s", n)
		}
		for _, n := range res["SKIP"] {
			t.Logf("  skip %s", n)
		}
		for _, n := range res["FAIL"] {
			t.Errorf("  FAIL %s", n)
		}
		if len(res["PASS"]) == 0 || runErr != nil && len(res["FAIL"]) == 0 {
			os.WriteFile(filepath.Join(dir, "kgo.out"), out, 0o644)
			t.Fatalf("%s: the suite ran nothing or ended abnormally (%v); its output ends:\n%s", name, runErr, tail(out, 40))
		}
	}
}

var goTestResult = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+)`)

// parseGoTestResults collects the test names of `go test -v` output by result.
func parseGoTestResults(out []byte) map[string][]string {
	res := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if m := goTestResult.FindStringSubmatch(sc.Text()); m != nil {
			res[m[1]] = append(res[m[1]], m[2])
		}
	}
	for _, v := range res {
		sort.Strings(v)
	}
	return res
}

func tail(b []byte, lines int) string {
	s := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(s[max(0, len(s)-lines):], "\n")
}
