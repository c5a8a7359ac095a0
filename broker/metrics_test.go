package broker

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// TestMetrics scrapes /metrics over HTTP after some traffic, checks the
// broker's series are there with sensible values, and runs promtool check
// metrics on the text.
func TestMetrics(t *testing.T) {
	b := newTestBroker(t, func(c *Config) { c.MetricsListen = "127.0.0.1:0" })
	cl := newClient(t, b.addr, kgo.DefaultProduceTopic("metrics"), kgo.AllowAutoTopicCreation(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"metrics": {0: kgo.NewOffset().AtStart()}}))
	ctx := testContext(t, 30*time.Second)
	for i := range 10 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strings.Repeat("m", i+1))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for n := 0; n < 10 && ctx.Err() == nil; {
		n += len(cl.PollFetches(ctx).Records())
	}

	get := func(path string) string {
		t.Helper()
		resp, err := http.Get("http://" + b.MetricsAddr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		return string(body)
	}
	// A request is counted once its response is written, so the client can
	// see the last acknowledgement before the counter moves: wait for it.
	var text string
	testutil.WaitFor(t, 30*time.Second, func() error {
		text = get("/metrics")
		if want := `brokerlab_broker_requests_total{api="Produce"} 10`; !strings.Contains(text, want) {
			return fmt.Errorf("/metrics has no %q yet", want)
		}
		return nil
	})
	for _, want := range []string{
		`brokerlab_broker_requests_total{api="Produce"} 10`,
		`brokerlab_broker_produced_records_total 10`,
		`brokerlab_broker_request_duration_seconds_bucket{api="Fetch"`,
		`brokerlab_broker_connections `,
		`brokerlab_broker_fetch_sendfile_bytes_total 0`, // records under copyBelow are copied
		`brokerlab_broker_fetch_copy_bytes_total `,
		`brokerlab_broker_storage_appended_records_total 10`,
		`brokerlab_broker_storage_sync_duration_seconds_count `,
		`brokerlab_broker_network_received_bytes_total `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics has no %q", want)
		}
	}
	if strings.Contains(text, "brokerlab_broker_fetch_copy_bytes_total 0\n") {
		t.Error("fetches sent no record bytes")
	}

	promtool := testutil.RequireCommand(t, "promtool", "apt-get install prometheus")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestPyroscope checks that brokerlab.pyroscope.server makes the broker
// upload profiles there (pyroscope-go uploads what it has when stopped).
func TestPyroscope(t *testing.T) {
	var ingests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/ingest") {
			ingests.Add(1)
		}
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	b := newTestBroker(t, func(c *Config) { c.PyroscopeServer = srv.URL })
	time.Sleep(200 * time.Millisecond) // some profile to send
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, func() error {
		if ingests.Load() == 0 {
			return errors.New("no profile uploaded to the pyroscope server")
		}
		return nil
	})
}

// TestMetricsPprofSwitch checks that /debug/pprof is served only with
// brokerlab.metrics.pprof=true, and that the switch is refused on a
// listener reachable from other hosts.
func TestMetricsPprofSwitch(t *testing.T) {
	status := func(b *testBroker, path string) int {
		t.Helper()
		resp, err := http.Get("http://" + b.MetricsAddr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	off := newTestBroker(t, func(c *Config) { c.MetricsListen = "127.0.0.1:0" })
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline"} {
		if got := status(off, path); got != http.StatusNotFound {
			t.Errorf("pprof off by default: GET %s = %d, want 404", path, got)
		}
	}
	on := newTestBroker(t, func(c *Config) { c.MetricsListen = "127.0.0.1:0"; c.MetricsPprof = true })
	if got := status(on, "/debug/pprof/"); got != http.StatusOK {
		t.Errorf("brokerlab.metrics.pprof=true: GET /debug/pprof/ = %d, want 200", got)
	}

	cfg := DefaultConfig()
	cfg.LogDirs = []string{t.TempDir()}
	cfg.MetricsListen, cfg.MetricsPprof = "0.0.0.0:7071", true
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "brokerlab.metrics.pprof") {
		t.Errorf("pprof on a wildcard listener: Validate() = %v, want an error naming brokerlab.metrics.pprof", err)
	}
}
