package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerlab/brokerlab/internal/launch"
	"github.com/brokerlab/brokerlab/internal/testutil"
)

// startBroker runs bin/broker through the lab's launcher on a fresh log dir
// with the given extra server.properties lines and stops it when the test
// ends. It returns the process, the Kafka address and the broker's log file.
func startBroker(t *testing.T, extra ...string) (p *launch.Process, addr, logFile string) {
	t.Helper()
	p, err := launch.StartBroker(context.Background(), launch.Broker{Path: bin("broker"), Dir: t.TempDir(), Label: "e2e", Props: extra})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(30 * time.Second); err != nil {
			t.Errorf("stopping the broker: %v", err)
		}
	})
	return p, p.Addr(), p.LogFile()
}

// startDaemon runs a program (node-exporter, Prometheus, lab probe) through
// the lab's launcher until the test ends, its output in dir/name.log, and
// stops it with SIGTERM first (lab probe detaches its programs on the way
// out).
func startDaemon(t *testing.T, dir, name, path string, args ...string) {
	t.Helper()
	p, err := launch.Start(context.Background(), launch.Spec{Name: name, Path: path, Args: args, LogFile: filepath.Join(dir, name+".log")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(30 * time.Second); err != nil {
			t.Errorf("stopping %s: %v", name, err)
		}
	})
}

// startPrometheus runs a real Prometheus on the shipped
// dashboards/prometheus.yml with each job's target replaced by
// targets[job] (jobs not in targets are dropped) and a 1s scrape interval,
// and waits until every target is up. It returns Prometheus's address.
func startPrometheus(t *testing.T, targets map[string]string) string {
	t.Helper()
	prom := testutil.RequireCommand(t, "prometheus", "apt-get install prometheus")
	cfg := "global:\n  scrape_interval: 1s\nscrape_configs:\n"
	for _, j := range readPrometheusConfig(t).ScrapeConfigs {
		if addr, ok := targets[j.JobName]; ok {
			cfg += fmt.Sprintf("  - job_name: %s\n    static_configs:\n      - targets: ['%s']\n", j.JobName, addr)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	promAddr, err := launch.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	startDaemon(t, dir, "prometheus", prom, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+promAddr)
	for job := range targets {
		testutil.WaitFor(t, 60*time.Second, func() error { return promQuery(promAddr, `up{job="`+job+`"} == 1`, true) })
	}
	return promAddr
}

// requireEveryPanelHasData waits until every query of every panel of the
// dashboard returns at least one series, with Grafana's variables filled
// in from vars.
func requireEveryPanelHasData(t *testing.T, promAddr string, d dashboard, vars map[string]string) {
	t.Helper()
	pairs := []string{"$__rate_interval", "1m"}
	for k, v := range vars {
		pairs = append(pairs, "$"+k, v)
	}
	fill := strings.NewReplacer(pairs...)
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			q := fill.Replace(tg.Expr)
			testutil.WaitFor(t, 60*time.Second, func() error {
				if err := promQuery(promAddr, q, true); err != nil {
					return fmt.Errorf("%s panel %q: %w", d.File, p.Title, err)
				}
				return nil
			})
		}
	}
}

// TestDashboardPanelsShowData runs the broker and node-exporter under a
// real Prometheus configured like dashboards/prometheus.yml, puts a short
// produce and fetch load on the broker, and requires every panel of the
// broker and host dashboards to return data: a panel that plots a metric
// nobody exports, or a label nobody sets, fails here.
func TestDashboardPanelsShowData(t *testing.T) {
	ne := testutil.RequireCommand(t, "prometheus-node-exporter", "apt-get install prometheus-node-exporter")
	metricsAddr, err := launch.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	// fsync on every acknowledged produce and 16 KiB segments, so the sync
	// histogram and the roll counter move under a short load.
	_, addr, logFile := startBroker(t, "brokerlab.metrics.listen="+metricsAddr, "log.flush.sync.on.ack=true", "log.segment.bytes=16384")
	nodeAddr, err := launch.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	startDaemon(t, t.TempDir(), "node-exporter", ne, "--web.listen-address="+nodeAddr)
	promAddr := startPrometheus(t, map[string]string{"broker": metricsAddr, "node": nodeAddr})

	produceAndFetch(t, addr, "scraped", 300)
	sendGarbage(t, addr)
	testutil.WaitFor(t, 60*time.Second, func() error {
		return promQuery(promAddr, `brokerlab_broker_storage_segment_rolls_total > 0 and on() brokerlab_broker_storage_sync_duration_seconds_count > 0`, true)
	})
	requireEveryPanelHasData(t, promAddr, readDashboard(t, "broker.json"), map[string]string{"instance": metricsAddr})
	requireEveryPanelHasData(t, promAddr, readDashboard(t, "host.json"), map[string]string{"instance": nodeAddr})

	// The start-up log says where the metrics are.
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if want := "http://" + metricsAddr + "/metrics"; !strings.Contains(string(b), want) {
		t.Errorf("the broker's log does not name its metrics URL %s:\n%s", want, b)
	}
}

// TestKernelViewPanelsShowData runs the broker, and lab probe -listen
// scoped to the broker's pid, under a real Prometheus configured like
// dashboards/prometheus.yml, puts a short load on the broker, and requires
// every panel of the kernel view to return data and the probes to have
// seen the broker's fdatasync, page-cache and sendfile work.
func TestKernelViewPanelsShowData(t *testing.T) {
	testutil.RequirePrivileged(t, "loading eBPF programs for lab probe")
	metricsAddr, err := launch.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	br, addr, _ := startBroker(t, "brokerlab.metrics.listen="+metricsAddr, "log.flush.sync.on.ack=true")
	probeAddr, err := launch.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	// A long interval: the exporter is what the test reads, not the tables.
	startDaemon(t, t.TempDir(), "lab-probe", bin("lab"), "probe", "-listen", probeAddr, "-pid", strconv.Itoa(br.Pid()), "-interval", "1h")
	promAddr := startPrometheus(t, map[string]string{"broker": metricsAddr, "probe": probeAddr})

	produceAndFetch(t, addr, "kernel", 300)
	for _, q := range []string{
		`brokerlab_probe_fsync_fdatasync_latency_seconds_count > 0`,
		`brokerlab_probe_pagecache_access_pages_total > 0`,
		`brokerlab_probe_sendfile_calls_total > 0`,
		`brokerlab_probe_sockbuf_sends_total > 0`,
	} {
		testutil.WaitFor(t, 60*time.Second, func() error { return promQuery(promAddr, q, true) })
	}
	requireEveryPanelHasData(t, promAddr, readDashboard(t, "kernel.json"), map[string]string{"instance": metricsAddr, "probe": probeAddr})
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
