package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/internal/launch"
	"github.com/brokerlab/brokerlab/internal/testutil"
)

// dashboardExprs returns every PromQL expression in a dashboard JSON file.
func dashboardExprs(tb testing.TB, name string) []string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(tb), "dashboards", name))
	if err != nil {
		tb.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		tb.Fatalf("%s is not valid dashboard JSON: %v", name, err)
	}
	if d.UID == "" || len(d.Panels) == 0 {
		tb.Fatalf("%s: no uid or no panels", name)
	}
	var exprs []string
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			exprs = append(exprs, t.Expr)
		}
	}
	return exprs
}

var selectorName = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\{`)

// metricNames returns the metric names the expressions select.
func metricNames(exprs []string) []string {
	var names []string
	for _, e := range exprs {
		for _, m := range selectorName.FindAllStringSubmatch(e, -1) {
			if !slices.Contains(names, m[1]) {
				names = append(names, m[1])
			}
		}
	}
	slices.Sort(names)
	return names
}

// missingMetrics returns which of names the /metrics text at url lacks.
func missingMetrics(url string, names []string) ([]string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		have[name] = true
	}
	var missing []string
	for _, n := range names {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	return missing, nil
}

// TestBrokerDashboardUsesRealMetrics checks that every metric the broker
// dashboard plots is one the broker exposes after ordinary traffic, a
// malformed request included.
func TestBrokerDashboardUsesRealMetrics(t *testing.T) {
	metricsAddr, err := launch.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, addr := startBroker(t, "brokerlab.metrics.listen="+metricsAddr)
	produceAndFetch(t, addr, "dashboard", 50)
	// A frame of garbage: the broker closes that connection and counts why.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Write([]byte{0, 0, 0, 8, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef})
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.ReadAll(c)
	c.Close()

	names := metricNames(dashboardExprs(t, "broker.json"))
	testutil.WaitFor(t, 10*time.Second, func() error {
		m, err := missingMetrics("http://"+metricsAddr+"/metrics", names)
		if err == nil && len(m) > 0 {
			err = fmt.Errorf("broker.json plots metrics the broker does not expose: %v", m)
		}
		return err
	})
}

// TestHostDashboardUsesRealMetrics checks the host dashboard against a real
// node-exporter on this machine.
func TestHostDashboardUsesRealMetrics(t *testing.T) {
	ne := testutil.RequireCommand(t, "prometheus-node-exporter", "apt-get install prometheus-node-exporter")
	addr, err := launch.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ne, "--web.listen-address="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	names := metricNames(dashboardExprs(t, "host.json"))
	testutil.WaitFor(t, 20*time.Second, func() error {
		m, err := missingMetrics("http://"+addr+"/metrics", names)
		if err == nil && len(m) > 0 {
			err = fmt.Errorf("host.json plots metrics node-exporter does not expose here: %v", m)
		}
		return err
	})
}
