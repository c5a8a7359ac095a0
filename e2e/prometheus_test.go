package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerlab/brokerlab/internal/launch"
	"github.com/brokerlab/brokerlab/internal/testutil"
)

// startBroker runs bin/broker on a fresh log dir with the given extra
// server.properties lines and stops it when the test ends.
func startBroker(t *testing.T, extra ...string) (p *launch.Process, addr string) {
	t.Helper()
	addr, err := launch.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	props := fmt.Sprintf("node.id=1\nlisteners=PLAINTEXT://%s\nlog.dirs=%s\n", addr, filepath.Join(dir, "data"))
	for _, l := range extra {
		props += l + "\n"
	}
	path := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(path, []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err = launch.Start(context.Background(), launch.Spec{
		Name: "broker", Path: bin("broker"), Args: []string{path}, Addr: addr,
		LogFile: filepath.Join(dir, "broker.log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(30 * time.Second); err != nil {
			t.Errorf("stopping the broker: %v", err)
		}
	})
	return p, addr
}

// TestPrometheusScrapesBrokerMetrics runs a real Prometheus against the
// broker's /metrics endpoint and queries what it stored after real traffic.
func TestPrometheusScrapesBrokerMetrics(t *testing.T) {
	prom := testutil.RequireCommand(t, "prometheus", "apt-get install prometheus")
	metricsAddr, err := launch.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, addr := startBroker(t, "brokerlab.metrics.listen="+metricsAddr)

	produceAndFetch(t, addr, "scraped", 100)

	dir := t.TempDir()
	promAddr, err := launch.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: broker\n    static_configs:\n      - targets: ['%s']\n", metricsAddr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(prom, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+promAddr)
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	for _, q := range []string{
		`up{job="broker"} == 1`,
		`sum(brokerlab_broker_requests_total) > 0`,
		`sum(rate(brokerlab_broker_fetch_sendfile_bytes_total[1m])) >= 0`,
	} {
		testutil.WaitFor(t, 60*time.Second, func() error { return promQuery(promAddr, q, true) })
	}
	// Every expression of the broker dashboard is valid PromQL to this
	// Prometheus, with Grafana's variables filled in.
	for _, e := range dashboardExprs(t, "broker.json") {
		q := strings.NewReplacer("$instance", metricsAddr, "$__rate_interval", "1m").Replace(e)
		if err := promQuery(promAddr, q, false); err != nil {
			t.Errorf("dashboard expression %s: %v", e, err)
		}
	}
}

// produceAndFetch produces n records to topic with franz-go and reads them
// back, so the broker has served both paths.
func produceAndFetch(t *testing.T, addr, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		if err := cl.ProduceSync(ctx, kgo.StringRecord("value-"+strconv.Itoa(i))).FirstErr(); err != nil {
			t.Fatalf("producing: %v", err)
		}
	}
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", got, n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetching %s/%d: %v", topic, p, err) })
		got += fs.NumRecords()
	}
}

// promQuery runs the instant query q; it returns an error when the query
// fails, or when nonEmpty is set and the answer has no series.
func promQuery(addr, q string, nonEmpty bool) error {
	resp, err := http.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("decoding the answer to %s: %w", q, err)
	}
	if body.Status != "success" || (nonEmpty && len(body.Data.Result) == 0) {
		return fmt.Errorf("query %s: status %s, %d series", q, body.Status, len(body.Data.Result))
	}
	return nil
}
