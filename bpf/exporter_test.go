package bpf

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// exportHistogram runs Collector.histogram on h and returns the metric.
func exportHistogram(t *testing.T, h Histogram) (*dto.Metric, string) {
	t.Helper()
	c := NewCollector(nil, nil, prometheus.Labels{"pid": "1"})
	ch := make(chan prometheus.Metric, 1)
	c.histogram(ch, h)
	m := <-ch
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	return &out, m.Desc().String()
}

func TestExportedHistogramIsInBaseUnits(t *testing.T) {
	h := Histogram{Family: FamilyFsync, Name: "fdatasync_latency", Unit: UnitNanoseconds, Scale: "log2", HasSum: true}
	for slot := range 64 {
		lo, hi := log2Bounds(slot)
		h.Buckets = append(h.Buckets, Bucket{Low: lo, High: hi})
	}
	h.Buckets[20].Count = 3 // [1.05ms, 2.1ms)
	h.Buckets[50].Count = 1 // beyond the exported buckets: only in +Inf
	h.Count, h.Sum = 4, 3*1_500_000+1<<50
	m, desc := exportHistogram(t, h)
	if !strings.Contains(desc, `"brokerlab_probe_fsync_fdatasync_latency_seconds"`) || !strings.Contains(desc, "pid") {
		t.Errorf("desc = %s, want brokerlab_probe_fsync_fdatasync_latency_seconds with a pid label", desc)
	}
	hist := m.GetHistogram()
	if got := len(hist.GetBucket()); got != log2ExportSlots {
		t.Errorf("%d buckets, want %d", got, log2ExportSlots)
	}
	if hist.GetSampleCount() != 4 || math.Abs(hist.GetSampleSum()-float64(h.Sum)*1e-9) > 1e-9 {
		t.Errorf("count %d sum %v, want 4 and %v", hist.GetSampleCount(), hist.GetSampleSum(), float64(h.Sum)*1e-9)
	}
	for _, b := range hist.GetBucket() {
		want := uint64(0)
		if b.GetUpperBound() >= 2.097152e-3 {
			want = 3
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v holds %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
}

func TestExportedPercentHistogramIsARatio(t *testing.T) {
	h := Histogram{Family: FamilySockBuf, Name: "send_fill", Unit: UnitPercent, Scale: "linear"}
	for slot := range 21 {
		b := Bucket{Low: uint64(slot) * 5, High: uint64(slot+1) * 5}
		if slot == 20 {
			b.High = math.MaxUint64
		}
		h.Buckets = append(h.Buckets, b)
	}
	h.Buckets[1].Count, h.Buckets[20].Count, h.Count = 2, 1, 3
	m, desc := exportHistogram(t, h)
	if !strings.Contains(desc, `"brokerlab_probe_sockbuf_send_fill_ratio"`) {
		t.Errorf("desc = %s", desc)
	}
	hist := m.GetHistogram()
	last := hist.GetBucket()[len(hist.GetBucket())-1]
	if len(hist.GetBucket()) != 20 || last.GetUpperBound() != 1 || last.GetCumulativeCount() != 2 {
		t.Errorf("%d buckets, last le=%v count %d; want 20, le=1 holding 2 (the open bucket only in +Inf)", len(hist.GetBucket()), last.GetUpperBound(), last.GetCumulativeCount())
	}
	// No exact sum: midpoints, 2*7.5% + 100%.
	if got := hist.GetSampleSum(); math.Abs(got-1.15) > 1e-9 {
		t.Errorf("estimated sum %v, want 1.15", got)
	}
}

// TestExporterOutputPassesPromtool loads every family scoped to this
// process, does some file and socket work, and checks the scraped text
// with promtool check metrics, the linter Prometheus ships.
func TestExporterOutputPassesPromtool(t *testing.T) {
	promtool := testutil.RequireCommand(t, "promtool", "apt-get install prometheus")
	cfg := Config{Families: Families(), PID: os.Getpid()}
	p := newTestProbes(t, cfg)
	f := tempFile(t, "data", 1<<20)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadAt(make([]byte, 1<<20), 0); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(p, cfg.Families, ScopeLabels(cfg)))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&text, mf); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(text.Bytes())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\non:\n%s", err, out, text.String())
	}
	for _, want := range []string{
		`brokerlab_probe_family_up{family="fsync",pid="` + strconv.Itoa(os.Getpid()) + `"} 1`,
		`brokerlab_probe_fsync_fsync_latency_seconds_bucket{`,
		`brokerlab_probe_fsync_fsync_calls_total{`,
		`brokerlab_probe_pagecache_hit_pages_total{`,
		`brokerlab_probe_pagecache_access_pages_total{`,
		`brokerlab_probe_sockbuf_srtt_seconds_count{`,
		`brokerlab_probe_sendfile_latency_seconds_sum{`,
		`brokerlab_probe_swap_swapin_pages_total{`,
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if m := mfs[0]; m == nil {
		t.Fatal("no metrics")
	}
	// fsync(2) was called once while the probes ran.
	for _, mf := range mfs {
		if mf.GetName() == "brokerlab_probe_fsync_fsync_calls_total" && mf.GetMetric()[0].GetCounter().GetValue() < 1 {
			t.Errorf("fsync_calls_total = %v after an fsync", mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
}
