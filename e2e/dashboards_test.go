package e2e

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/brokerlab/brokerlab/bpf"
	"github.com/brokerlab/brokerlab/broker"
)

// dashboard is the part of a Grafana dashboard JSON file the tests read.
type dashboard struct {
	File   string
	UID    string `json:"uid"`
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// readDashboard reads dashboards/name.
func readDashboard(tb testing.TB, name string) dashboard {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(tb), "dashboards", name))
	if err != nil {
		tb.Fatal(err)
	}
	d := dashboard{File: name}
	if err := json.Unmarshal(b, &d); err != nil {
		tb.Fatalf("%s is not valid dashboard JSON: %v", name, err)
	}
	if d.UID == "" || len(d.Panels) == 0 {
		tb.Fatalf("%s: no uid or no panels", name)
	}
	return d
}

// prometheusConfig is the part of dashboards/prometheus.yml the tests read.
type prometheusConfig struct {
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

func readPrometheusConfig(tb testing.TB) prometheusConfig {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(tb), "dashboards", "prometheus.yml"))
	if err != nil {
		tb.Fatal(err)
	}
	var c prometheusConfig
	if err := yaml.Unmarshal(b, &c); err != nil {
		tb.Fatalf("dashboards/prometheus.yml: %v", err)
	}
	return c
}

// TestPrometheusConfigMatchesDefaults checks that the shipped Prometheus
// configuration scrapes where things listen by default: the broker's
// brokerlab.metrics.listen of config/server.properties, node-exporter's
// default port and the address the docs give lab probe -listen.
func TestPrometheusConfigMatchesDefaults(t *testing.T) {
	cfg, _, err := broker.LoadConfig(filepath.Join(repoRoot(t), "config", "server.properties"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"broker": cfg.MetricsListen,
		"node":   "127.0.0.1:9100", // node_exporter's --web.listen-address default (:9100)
		"probe":  bpf.DefaultListenAddr,
	}
	got := map[string]string{}
	for _, j := range readPrometheusConfig(t).ScrapeConfigs {
		for _, s := range j.StaticConfigs {
			for _, tg := range s.Targets {
				got[j.JobName] = tg
			}
		}
	}
	for job, addr := range want {
		if addr == "" {
			t.Errorf("config/server.properties sets no brokerlab.metrics.listen for job %s to scrape", job)
		}
		if got[job] != addr {
			t.Errorf("dashboards/prometheus.yml scrapes job %s at %q, want %q", job, got[job], addr)
		}
	}
}

// sendGarbage sends a malformed frame; the broker closes that connection
// and counts why (brokerlab_broker_connection_errors_total{reason}).
func sendGarbage(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte{0, 0, 0, 8, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef})
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.ReadAll(c)
}
