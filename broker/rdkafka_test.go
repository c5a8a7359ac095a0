package broker

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// rdkafkaPerformance returns the rdkafka_performance binary: $LAB_RDKAFKA_PERFORMANCE
// or bin/rdkafka_performance at the repository root (make tools builds it).
func rdkafkaPerformance(t *testing.T) string {
	t.Helper()
	p := os.Getenv("LAB_RDKAFKA_PERFORMANCE")
	if p == "" {
		p, _ = filepath.Abs("../bin/rdkafka_performance")
	}
	return testutil.RequireCommand(t, p, "make tools (builds bin/rdkafka_performance from librdkafka-dev's example source)")
}

// rdkafkaPayload is the value rdkafka_performance -S sends for sequence
// number seq: the pattern repeated over size bytes, then "<seq>: " and a
// NUL written over its start (rd_snprintf into the buffer).
func rdkafkaPayload(pattern string, size int, seq uint64) []byte {
	b := bytes.Repeat([]byte(pattern), size/len(pattern)+1)[:size]
	s := strconv.FormatUint(seq, 10) + ": "
	copy(b, s)
	b[len(s)] = 0
	return b
}

// TestRdkafkaPerformance produces 1 GiB of 1 KiB records with librdkafka's
// rdkafka_performance (an idempotent producer, so a retry can neither
// duplicate nor reorder), consumes them back with it (through the sendfile
// Fetch), and then checks every record's bytes with franz-go: each value
// must be exactly the payload of its sequence number, in order, once.
func TestRdkafkaPerformance(t *testing.T) {
	perf := rdkafkaPerformance(t)
	if testing.Short() {
		t.Skip("moves 1 GiB through the broker; skipped with -short")
	}
	const (
		size    = 1024
		count   = 1 << 20 // 1 GiB of values
		pattern = "librdkafka_performance testing!"
	)
	b := newTestBroker(t, func(c *Config) { c.SegmentBytes = 256 << 20 })
	rc := dialRaw(t, b.addr)
	createTopicRaw(t, rc, "perf", 1)
	ctx := testContext(t, 3*time.Minute)
	run := func(args ...string) string {
		t.Helper()
		start := time.Now()
		cmd := exec.CommandContext(ctx, perf, append([]string{"-b", b.addr, "-t", "perf", "-p", "0"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("rdkafka_performance %v: %v\n%s", args, err, out)
		}
		t.Logf("rdkafka_performance %v: %v", args, time.Since(start).Round(time.Millisecond))
		return string(out)
	}

	out := run("-P", "-s", strconv.Itoa(size), "-c", strconv.Itoa(count), "-S", "0", "-a", "-1",
		"-X", "linger.ms=5", "-X", "batch.size=1000000", "-X", "enable.idempotence=true")
	// The last summary line is the final one (it prints one a second).
	m := lastMatch(`(\d+) messages produced \((\d+) bytes\), (\d+) delivered \(offset -?\d+, (\d+) failed\)`, out)
	if m == nil || m[1] != strconv.Itoa(count) || m[2] != strconv.Itoa(count*size) || m[3] != strconv.Itoa(count) || m[4] != "0" {
		t.Fatalf("produce summary %q, want %d messages, %d bytes, all delivered:\n%s", m, count, count*size, out)
	}
	if hw := b.Store().Partition("perf", 0).HighWatermark(); hw != count {
		t.Fatalf("high watermark %d after producing, want %d", hw, count)
	}

	out = run("-C", "-o", "beginning", "-c", strconv.Itoa(count), "-e")
	m = lastMatch(`(\d+) messages \((\d+) bytes\) consumed`, out)
	if m == nil || m[1] != strconv.Itoa(count) || m[2] != strconv.Itoa(count*size) {
		t.Fatalf("consume summary %q, want %d messages of %d bytes:\n%s", m, count, count*size, out)
	}

	// Every byte, checked by a second client.
	start := time.Now()
	cl := newClient(t, b.addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"perf": {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(16<<20))
	var n uint64
	testutil.PollRecords(ctx, t, cl, count, func(r *kgo.Record) {
		if r.Offset != int64(n) || !bytes.Equal(r.Value, rdkafkaPayload(pattern, size, n)) {
			t.Fatalf("record at offset %d (expected %d) has value %.40q", r.Offset, n, r.Value)
		}
		n++
	})
	t.Logf("franz-go verified %d records in %v", n, time.Since(start).Round(time.Millisecond))
	if sent := metricValue(t, b.metrics.fetchSendfileBytes); sent < 2*count*size {
		t.Errorf("fetch_sendfile_bytes_total = %v, want at least %d (both consumers, zero-copy)", sent, 2*count*size)
	}
}

func lastMatch(re, s string) []string {
	all := regexp.MustCompile(re).FindAllStringSubmatch(s, -1)
	if len(all) == 0 {
		return nil
	}
	return all[len(all)-1]
}
