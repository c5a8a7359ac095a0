package bench

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkMaxThroughputVsRdkafka runs the rdkafka experiment (RunRdkafka)
// once per iteration and reports both medians and their ratio; the target
// is lab/rdkafka >= RdkafkaTarget.
//
// Environment:
//
//	LAB_RDKAFKA_PERFORMANCE  rdkafka_performance binary (default ../bin/rdkafka_performance; make tools)
//	LAB_BENCH_BROKERS        target host:port (default: ../bin/kfake started on a free loopback port)
//	LAB_BENCH_PAIRS          pairs (default 5), LAB_BENCH_SECONDS per run (default 5), LAB_BENCH_MSG_SIZE (default 1024)
//
// Run: go test -run '^$' -bench MaxThroughputVsRdkafka -benchtime 1x ./bench/
func BenchmarkMaxThroughputVsRdkafka(b *testing.B) {
	rdk := envOr("LAB_RDKAFKA_PERFORMANCE", "../bin/rdkafka_performance")
	if _, err := os.Stat(rdk); err != nil {
		b.Skipf("rdkafka_performance not found at %s: run make tools or set LAB_RDKAFKA_PERFORMANCE", rdk)
	}
	cfg := RdkafkaConfig{RdkPerfPath: rdk, Brokers: os.Getenv("LAB_BENCH_BROKERS"), KfakePath: "../bin/kfake",
		Pairs: envInt(b, "LAB_BENCH_PAIRS", 5), Seconds: envInt(b, "LAB_BENCH_SECONDS", 5), Size: envInt(b, "LAB_BENCH_MSG_SIZE", 1024)}
	if cfg.Brokers == "" {
		if _, err := os.Stat(cfg.KfakePath); err != nil {
			b.Skipf("no LAB_BENCH_BROKERS and no %s: run make build or set LAB_BENCH_BROKERS", cfg.KfakePath)
		}
	}
	for b.Loop() {
		cfg.WorkDir = filepath.Join(b.TempDir(), "kfake")
		rep, err := RunRdkafka(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		for i, p := range rep.Pairs {
			b.Logf("pair %d: lab %.0f msg/s, rdkafka_performance %.0f msg/s", i+1, p.Lab, p.Rdkafka)
		}
		lab, rd, ratio := rep.Medians()
		b.ReportMetric(lab, "lab-msg/s")
		b.ReportMetric(rd, "rdkafka-msg/s")
		b.ReportMetric(ratio, "lab/rdkafka")
		verdict := "met"
		if ratio < RdkafkaTarget {
			verdict = "NOT met"
		}
		b.Logf("median lab %.0f msg/s vs rdkafka_performance %.0f msg/s: ratio %.3f, target >= %.1f %s (seed %d)", lab, rd, ratio, RdkafkaTarget, verdict, rep.Seed)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envInt(b *testing.B, k string, def int) int {
	v := os.Getenv(k)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", k, v)
	}
	return n
}
