package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkPacingAccuracy runs the shared schedule alone (4 goroutines, no
// broker) for one second per iteration at 10k and 100k msg/s and reports
// the achieved share of the target and the publish delay's p99.
func BenchmarkPacingAccuracy(b *testing.B) {
	for _, rate := range []float64{10000, 100000} {
		b.Run(fmt.Sprintf("rate=%.0f", rate), func(b *testing.B) {
			var ratios []float64
			h := newHist()
			for b.Loop() {
				start := time.Now()
				s := newSchedule(start, rate, 0)
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				var sent [4]int64
				var mu sync.Mutex
				var wg sync.WaitGroup
				for g := range sent {
					wg.Add(1)
					go func() {
						defer wg.Done()
						local := newHist()
						for {
							_, due := s.take()
							if s.sleepUntil(ctx, due) != nil {
								break
							}
							recordUs(local, int64(time.Since(start))-due)
							sent[g]++
						}
						mu.Lock()
						h.Merge(local)
						mu.Unlock()
					}()
				}
				wg.Wait()
				cancel()
				var n int64
				for _, x := range sent {
					n += x
				}
				ratios = append(ratios, float64(n)/(rate*time.Since(start).Seconds()))
			}
			b.ReportMetric(median(ratios), "achieved/target")
			b.ReportMetric(float64(h.ValueAtQuantile(99)), "delay-p99-us")
		})
	}
}

// BenchmarkMaxThroughputVsRdkafka compares `lab load`'s maximum produce
// throughput (unpaced, Options.Unpaced) with librdkafka's
// rdkafka_performance against the same broker, topic shape, message size and
// client settings (acks=1, linger 5 ms, 1 MiB batches, no compression, no
// idempotence), interleaved in pairs. It reports both medians and their
// ratio; the project's target is lab/rdkafka >= 0.9.
//
// Environment:
//
//	LAB_RDKAFKA_PERFORMANCE  rdkafka_performance binary (default ../bin/rdkafka_performance; make tools)
//	LAB_BENCH_BROKERS        target host:port (default: ../bin/kfake started on a free loopback port)
//	LAB_BENCH_PAIRS          pairs (default 5), LAB_BENCH_SECONDS per run (default 5), LAB_BENCH_MSG_SIZE (default 1024)
//
// Run: go test -run '^$' -bench MaxThroughputVsRdkafka -benchtime 1x ./loadgen/
func BenchmarkMaxThroughputVsRdkafka(b *testing.B) {
	rdk := envOr("LAB_RDKAFKA_PERFORMANCE", "../bin/rdkafka_performance")
	if _, err := os.Stat(rdk); err != nil {
		b.Skipf("rdkafka_performance not found at %s: run make tools or set LAB_RDKAFKA_PERFORMANCE", rdk)
	}
	pairs := envInt(b, "LAB_BENCH_PAIRS", 5)
	secs := envInt(b, "LAB_BENCH_SECONDS", 5)
	size := envInt(b, "LAB_BENCH_MSG_SIZE", 1024)
	brokers := os.Getenv("LAB_BENCH_BROKERS")
	if brokers == "" {
		brokers = startKfakeProcess(b)
	}
	d := DefaultDriver()
	d.Producer.Acks, d.Producer.Idempotent = "1", false
	d.Producer.Linger = 5 * time.Millisecond
	d.Producer.BatchBytes = 1 << 20
	d.Producer.BufferRecords = 100000 // librdkafka's queue.buffering.max.messages default
	w := testWorkload(0, secs)
	w.MessageSize = size
	for b.Loop() {
		var lab, rd []float64
		for i := 0; i < pairs; i++ {
			res, err := Run(context.Background(), w, d, Options{Brokers: []string{brokers}, Unpaced: true})
			if err != nil {
				b.Fatalf("lab load: %v", err)
			}
			lab = append(lab, res.Aggregate.PublishRate)
			r, err := runRdkafkaPerformance(rdk, brokers, size, time.Duration(secs)*time.Second)
			if err != nil {
				b.Fatalf("rdkafka_performance: %v", err)
			}
			rd = append(rd, r)
			b.Logf("pair %d: lab %.0f msg/s, rdkafka_performance %.0f msg/s", i+1, lab[i], rd[i])
		}
		ratio := median(lab) / median(rd)
		b.ReportMetric(median(lab), "lab-msg/s")
		b.ReportMetric(median(rd), "rdkafka-msg/s")
		b.ReportMetric(ratio, "lab/rdkafka")
		verdict := "met"
		if ratio < 0.9 {
			verdict = "NOT met"
		}
		b.Logf("median lab %.0f msg/s vs rdkafka_performance %.0f msg/s: ratio %.3f, target >= 0.9 %s", median(lab), median(rd), ratio, verdict)
	}
}

var rdkSummary = regexp.MustCompile(`(\d+) messages produced .* (\d+) delivered .* in (\d+)ms: (\d+) msgs/s`)

// runRdkafkaPerformance produces to a fresh 1-partition topic for d, then
// interrupts rdkafka_performance and parses its final summary line.
func runRdkafkaPerformance(bin, brokers string, size int, d time.Duration) (float64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topic := fmt.Sprintf("lab-rdkafka-%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		return 0, fmt.Errorf("creating %s: %w", topic, err)
	}
	defer adm.DeleteTopics(context.Background(), topic) //nolint:errcheck // best effort
	cmd := exec.Command(bin, "-P", "-t", topic, "-p", "0", "-b", brokers, "-s", strconv.Itoa(size), "-a", "1",
		"-X", "linger.ms=5", "-X", "batch.size=1048576", "-X", "enable.idempotence=false", "-z", "none")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	time.Sleep(d)
	_ = cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return 0, errors.New("rdkafka_performance did not stop within 30 s of SIGINT")
	}
	m := rdkSummary.FindAllStringSubmatch(out.String(), -1)
	if len(m) == 0 {
		return 0, fmt.Errorf("no summary line in output:\n%s", out.String())
	}
	rate, _ := strconv.ParseFloat(m[len(m)-1][4], 64)
	return rate, nil
}

// startKfakeProcess runs ../bin/kfake on a free loopback port until the
// benchmark ends.
func startKfakeProcess(b *testing.B) string {
	b.Helper()
	bin := "../bin/kfake"
	if _, err := os.Stat(bin); err != nil {
		b.Skipf("no LAB_BENCH_BROKERS and no %s: run make build or set LAB_BENCH_BROKERS", bin)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "-listen", addr)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			b.Fatalf("kfake did not listen on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
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
