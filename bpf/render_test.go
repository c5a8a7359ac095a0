package bpf

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// sampleSnapshots builds two snapshots by hand, as Probes.Snapshot would
// return them, to test Delta and rendering without privileges.
func sampleSnapshots() (prev, cur Snapshot) {
	t0 := time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
	hist := func(counts map[int]uint64, sum uint64) Histogram {
		h := Histogram{Family: FamilyFsync, Name: "fsync_latency", Method: mSysFsync, Unit: UnitNanoseconds, Scale: "log2", HasSum: true, Sum: sum}
		for i := range 64 {
			lo, hi := log2Bounds(i)
			h.Buckets = append(h.Buckets, Bucket{Low: lo, High: hi, Count: counts[i]})
			h.Count += counts[i]
		}
		return h
	}
	counters := func(acc, ins, wr, calls uint64) []Counter {
		return []Counter{
			{Family: FamilyFsync, Name: "fsync_calls", Method: mSysFsync, Unit: UnitEvents, Value: calls},
			{Family: FamilyPageCache, Name: "access_pages", Method: mGetPages, Unit: UnitPages, Value: acc},
			{Family: FamilyPageCache, Name: "insert_pages", Method: mAddPage, Unit: UnitPages, Value: ins},
			{Family: FamilyPageCache, Name: "write_insert_pages", Method: mWriteInsert, Unit: UnitPages, Value: wr},
		}
	}
	prev = Snapshot{Time: t0, Counters: counters(1000, 600, 100, 3), Histograms: []Histogram{hist(map[int]uint64{19: 2, 20: 1}, 2_000_000)}}
	cur = Snapshot{Time: t0.Add(time.Second), Counters: counters(3000, 900, 150, 10), Histograms: []Histogram{hist(map[int]uint64{19: 4, 20: 5, 22: 1}, 9_000_000)}}
	prev.Ratios, cur.Ratios = deriveRatios(prev), deriveRatios(cur)
	return prev, cur
}

func TestDeltaSubtractsAndRecomputesRatios(t *testing.T) {
	prev, cur := sampleSnapshots()
	w := cur.Delta(prev)
	if got := w.Value(FamilyPageCache, "access_pages"); got != 2000 {
		t.Errorf("access delta = %d, want 2000", got)
	}
	// misses in the window: (900-600) - (150-100) = 250 of 2000 accesses.
	r, _ := w.Ratio(FamilyPageCache, "hit_ratio")
	if !r.Valid || math.Abs(r.Value-0.875) > 1e-9 {
		t.Errorf("window hit ratio = %+v, want 0.875", r)
	}
	h, _ := w.Histogram(FamilyFsync, "fsync_latency")
	if h.Count != 7 || h.Sum != 7_000_000 || h.Buckets[19].Count != 2 || h.Buckets[22].Count != 1 {
		t.Errorf("histogram delta: count %d sum %d buckets 19=%d 22=%d", h.Count, h.Sum, h.Buckets[19].Count, h.Buckets[22].Count)
	}
	if h.Quantile(0.5) != 1<<21 || h.Max() != 1<<22 {
		t.Errorf("p50 = %d, max = %d", h.Quantile(0.5), h.Max())
	}
	if time.Duration(w.Window) != time.Second {
		t.Errorf("window = %v", time.Duration(w.Window))
	}
	// The whole snapshot when there is no previous one.
	if got := cur.Delta(Snapshot{Time: cur.Time}).Value(FamilyFsync, "fsync_calls"); got != 10 {
		t.Errorf("delta from empty = %d, want 10", got)
	}
}

func TestWriteText(t *testing.T) {
	prev, cur := sampleSnapshots()
	var buf bytes.Buffer
	if err := WriteText(&buf, cur.Delta(prev)); err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, buf.Bytes())
}

func TestSnapshotJSON(t *testing.T) {
	prev, cur := sampleSnapshots()
	b, err := json.MarshalIndent(cur.Delta(prev), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back["window"] != "1s" {
		t.Errorf("window marshals as %v, want \"1s\"", back["window"])
	}
}

func TestParseFamilyAndDevice(t *testing.T) {
	if f, err := ParseFamily("swap"); err != nil || f != FamilySwap {
		t.Errorf("ParseFamily(swap) = %v, %v", f, err)
	}
	if _, err := ParseFamily("kprobe"); err == nil {
		t.Error("ParseFamily(kprobe): want an error")
	}
	if d, err := parseDevice("254:16"); err != nil || d != 254<<20|16 {
		t.Errorf("parseDevice(254:16) = %#x, %v", d, err)
	}
	for _, bad := range []string{"vda", "1:", ":2", "5000:1"} {
		if _, err := parseDevice(bad); err == nil {
			t.Errorf("parseDevice(%q): want an error", bad)
		}
	}
	err := Config{Families: []Family{"nope"}, PID: -1, Device: "x"}.Validate()
	if err == nil {
		t.Fatal("invalid config validated")
	}
	t.Log(err)
}

func TestFeaturesWriteTo(t *testing.T) {
	f := Features{
		Tracefs: "/sys/kernel/tracing",
		Families: []FamilyFeatures{
			{Family: FamilyFsync, Available: true, Events: []Event{
				{Method: "tp_btf/block_rq_issue", Available: true},
				{Method: "tracepoint/syscalls/sys_enter_fsync", Available: true},
			}},
			{Family: FamilySwap, Available: false, Reason: "missing tp_btf/page_fault_user (no btf_trace_page_fault_user in kernel BTF)", Events: []Event{
				{Method: "tp_btf/count_memcg_events", Available: true},
				{Method: "tp_btf/page_fault_user", Reason: "no btf_trace_page_fault_user in kernel BTF"},
			}},
		},
	}
	var buf bytes.Buffer
	n, err := f.WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo = %d, %v (wrote %d)", n, err, buf.Len())
	}
	testutil.Golden(t, buf.Bytes())
}

func TestEstimateInterpolatesInsideTheBucket(t *testing.T) {
	prev, cur := sampleSnapshots()
	h, _ := cur.Delta(prev).Histogram(FamilyFsync, "fsync_latency")
	// 7 values: 2 in [2^19, 2^20), 4 in [2^20, 2^21), 1 in [2^22, 2^23).
	// The median's rank 3.5 lies 1.5 values into the 4 of [2^20, 2^21).
	if got, want := h.Estimate(0.5), float64(1<<20)+0.375*float64(1<<20); got != want {
		t.Errorf("Estimate(0.5) = %v, want %v", got, want)
	}
	// A small shift of the data moves the estimate a little, where the
	// bucket edge (Quantile) would not move at all or would double.
	for q := 0.05; q < 1; q += 0.05 {
		lo, hi := h.Estimate(q), h.Estimate(q+0.05)
		if hi < lo {
			t.Errorf("Estimate not monotone: q=%.2f %v > q=%.2f %v", q, lo, q+0.05, hi)
		}
		if up := float64(h.Quantile(q)); lo > up {
			t.Errorf("Estimate(%.2f) = %v above the bucket's upper edge %v", q, lo, up)
		}
	}
	if got := (Histogram{}).Estimate(0.99); got != 0 {
		t.Errorf("empty Estimate = %v, want 0", got)
	}
}
