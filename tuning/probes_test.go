package tuning

import (
	"math"
	"testing"

	"github.com/brokerlab/brokerlab/bpf"
)

func TestEvidenceOfMapsProbeReadings(t *testing.T) {
	// 100 fsyncs in [1,2) ms and 2 fdatasyncs in [8,16) ms (log2 ns buckets).
	hist := func(name string, slot int, n uint64) bpf.Histogram {
		bs := make([]bpf.Bucket, 64)
		for i := range bs {
			bs[i] = bpf.Bucket{Low: 1 << i, High: 1 << (i + 1)}
		}
		bs[slot].Count = n
		return bpf.Histogram{Family: bpf.FamilyFsync, Name: name, Scale: "log2", Buckets: bs, Count: n}
	}
	d := bpf.Snapshot{
		Histograms: []bpf.Histogram{hist("fsync_latency", 20, 100), hist("fdatasync_latency", 23, 2)},
		Counters:   []bpf.Counter{{Family: bpf.FamilySwap, Name: "swapin_pages", Value: 7}},
		Ratios: []bpf.Ratio{
			{Family: bpf.FamilyPageCache, Name: "hit_ratio", Value: 0.75, Valid: true},
			{Family: bpf.FamilySockBuf, Name: "send_eagain_share", Value: 0.1, Valid: true},
			{Family: bpf.FamilySendfile, Name: "zero_copy_share", Valid: false},
		},
	}
	var m Measurement
	evidenceOf(d, []bpf.Family{bpf.FamilyFsync, bpf.FamilyPageCache, bpf.FamilySwap, bpf.FamilySockBuf, bpf.FamilySendfile}, &m)
	check := func(name string, got *float64, want float64) {
		t.Helper()
		if got == nil || math.Abs(*got-want) > 1e-9*math.Abs(want) {
			if got != nil {
				t.Errorf("%s = %v, want %v", name, *got, want)
			} else {
				t.Errorf("%s not measured, want %v", name, want)
			}
		}
	}
	// Interpolated inside the bucket (histogram_quantile), not its edge: the
	// median's rank 51 is 51 of the 100 values in [2^20, 2^21) ns; the p99's
	// rank 100.98 is 0.98 of the 2 values in [2^23, 2^24) ns.
	check("fsync p50", m.FsyncP50, (float64(1<<20)+0.51*float64(1<<20))/1e9)
	check("fsync p99", m.FsyncP99, (float64(1<<23)+0.49*float64(1<<23))/1e9)
	check("page-cache hits", m.PageCacheHitRate, 0.75)
	check("swap-ins", m.SwapIns, 7)
	check("sndbuf full", m.SendBufFull, 0.1)
	if m.SendfileShare != nil {
		t.Errorf("sendfile share = %v from an invalid ratio, want not measured", *m.SendfileShare)
	}
	// A family that did not load is not measured, not zero.
	var m2 Measurement
	evidenceOf(d, nil, &m2)
	if m2.SwapIns != nil || m2.FsyncP99 != nil {
		t.Errorf("unloaded families filled: %+v", m2)
	}
}
