package tuning

import (
	"fmt"
	"log/slog"

	"github.com/brokerlab/brokerlab/bpf"
)

// BPFProbes attaches the eBPF probe families (package bpf) to the broker.
// A family the kernel cannot load leaves its fields nil (not measured).
type BPFProbes struct {
	Logger *slog.Logger
}

// Attach implements Probes.
func (b BPFProbes) Attach(pid int, cgroupDir string) (ProbeSession, error) {
	p, err := bpf.New(bpf.Config{PID: pid, Cgroup: cgroupDir, Logger: b.Logger})
	if err != nil {
		return nil, fmt.Errorf("loading probes for pid %d: %w", pid, err)
	}
	start, err := p.Snapshot()
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("reading probes: %w", err)
	}
	return &bpfSession{p: p, start: start}, nil
}

type bpfSession struct {
	p     *bpf.Probes
	start bpf.Snapshot
}

func (s *bpfSession) Close() error { return s.p.Close() }

// Collect implements ProbeSession.
func (s *bpfSession) Collect(m *Measurement) error {
	end, err := s.p.Snapshot()
	if err != nil {
		return fmt.Errorf("reading probes: %w", err)
	}
	evidenceOf(end.Delta(s.start), s.p.Loaded(), m)
	return nil
}

// evidenceOf fills m's probe fields from a window of readings; families
// not loaded stay nil.
func evidenceOf(d bpf.Snapshot, loaded []bpf.Family, m *Measurement) {
	has := map[bpf.Family]bool{}
	for _, f := range loaded {
		has[f] = true
	}
	f := func(v float64) *float64 { return &v }
	if has[bpf.FamilyFsync] {
		// fsync and fdatasync together: the broker's durable-write latency.
		var merged bpf.Histogram
		for _, name := range []string{"fsync_latency", "fdatasync_latency"} {
			h, ok := d.Histogram(bpf.FamilyFsync, name)
			if !ok {
				continue
			}
			if merged.Buckets == nil {
				merged = h
				merged.Buckets = append([]bpf.Bucket(nil), h.Buckets...)
				continue
			}
			for i := range merged.Buckets {
				if i < len(h.Buckets) {
					merged.Buckets[i].Count += h.Buckets[i].Count
				}
			}
			merged.Count += h.Count
		}
		if merged.Count > 0 {
			m.FsyncP50 = f(merged.Estimate(0.5) / 1e9)
			m.FsyncP99 = f(merged.Estimate(0.99) / 1e9)
		}
	}
	if has[bpf.FamilyPageCache] {
		if r, ok := d.Ratio(bpf.FamilyPageCache, "hit_ratio"); ok && r.Valid {
			m.PageCacheHitRate = f(r.Value)
		}
	}
	if has[bpf.FamilySwap] {
		m.SwapIns = f(float64(d.Value(bpf.FamilySwap, "swapin_pages")))
	}
	if has[bpf.FamilySockBuf] {
		if r, ok := d.Ratio(bpf.FamilySockBuf, "send_eagain_share"); ok && r.Valid {
			m.SendBufFull = f(r.Value)
		}
	}
	if has[bpf.FamilySendfile] {
		if r, ok := d.Ratio(bpf.FamilySendfile, "zero_copy_share"); ok && r.Valid {
			m.SendfileShare = f(r.Value)
		}
	}
}
