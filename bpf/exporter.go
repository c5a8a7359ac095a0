package bpf

import (
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultListenAddr is where `lab probe -listen` serves the exporter in the
// docs and in dashboards/prometheus.yml (the broker's metrics are on 7071).
const DefaultListenAddr = "127.0.0.1:7072"

// Exporter names: brokerlab_probe_<family>_<reading>_<unit>.
const exporterNamespace = "brokerlab_probe"

// log2ExportSlots is how many log2 buckets the exporter publishes: bucket
// 40 ends at 2^41, i.e. 36 minutes in nanoseconds or 2 TiB in bytes; larger
// values count only in +Inf. The set is fixed so that every scrape has the
// same buckets, as Prometheus requires of a histogram.
const log2ExportSlots = 41

// ratioNumerators names the counter that carries each ratio's numerator
// when it is not already a counter of its own. Every ratio is exported as
// two counters (PromQL divides their rates over the window it is asked
// about): hit_ratio = hit_pages / access_pages, send_fill_over_70_share =
// sends_fill_over_70 / sends; send_eagain_share (send_eagain / sends) and
// zero_copy_share (socket_bytes_sendfile / (socket_bytes_sendfile +
// socket_bytes_copy)) need no new counter.
var ratioNumerators = map[Family]map[string]struct{ name, help string }{
	FamilyPageCache: {"hit_ratio": {"hit_pages", "Page-cache page accesses that hit (accesses minus read misses); the hit ratio is this counter's rate over " + exporterNamespace + "_pagecache_access_pages_total's."}},
	FamilySockBuf:   {"send_fill_over_70_share": {"sends_fill_over_70", "Socket sends that found the send buffer 70% full or more; the share is this counter's rate over " + exporterNamespace + "_sockbuf_sends_total's."}},
}

// Collector serves a Probes' readings as Prometheus metrics: each log2 or
// linear histogram as a histogram in base units (nanoseconds and
// microseconds become seconds, percent a 0-1 ratio), each counter as a
// _total counter, each ratio as two counters, and
// brokerlab_probe_family_up{family} (1 attached, 0 asked for but not
// running). The scope (pid, cgroup) is a constant label on every metric.
// It reads the maps at scrape time, so it costs nothing between scrapes.
type Collector struct {
	probes *Probes
	asked  []Family
	labels prometheus.Labels

	mu sync.Mutex // guards last
	// last holds each ratio numerator's exported value: a numerator that
	// is a difference of counters (accesses minus misses) can dip for a
	// moment when one side is counted later; a counter must not.
	last map[string]float64
}

// NewCollector returns a collector for p. families are those asked for
// (reported by family_up); labels are constant labels for every metric,
// usually ScopeLabels(cfg).
func NewCollector(p *Probes, families []Family, labels prometheus.Labels) *Collector {
	if len(families) == 0 {
		families = Families()
	}
	return &Collector{probes: p, asked: families, labels: labels, last: map[string]float64{}}
}

// ScopeLabels returns the constant labels that say what cfg's probes are
// scoped to: pid and cgroup, each when set.
func ScopeLabels(cfg Config) prometheus.Labels {
	l := prometheus.Labels{}
	if cfg.PID != 0 {
		l["pid"] = strconv.Itoa(cfg.PID)
	}
	if cfg.Cgroup != "" {
		l["cgroup"] = cfg.Cgroup
	}
	return l
}

// Describe sends nothing: which metrics exist depends on the families the
// kernel could load and on label values read from the maps (memcg ids,
// drop reasons), so this is an unchecked collector.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect reads a snapshot and sends it as metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	up := prometheus.NewDesc(exporterNamespace+"_family_up", "Whether a probe family is attached (1) or was asked for but could not load on this kernel (0).", []string{"family"}, c.labels)
	for _, f := range c.asked {
		v := 1.0
		if c.probes.Err(f) != nil {
			v = 0
		}
		ch <- prometheus.MustNewConstMetric(up, prometheus.GaugeValue, v, string(f))
	}
	s, err := c.probes.Snapshot()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(prometheus.NewDesc(exporterNamespace+"_error", "Reading the probes failed.", nil, c.labels), err)
		return
	}
	for _, h := range s.Histograms {
		c.histogram(ch, h)
	}
	// Counters sharing a name (one per memcg or drop reason) share a Desc.
	descs := map[string]*prometheus.Desc{}
	for _, ct := range s.Counters {
		name := exporterNamespace + "_" + string(ct.Family) + "_" + ct.Name + "_total"
		var keys, vals []string
		if k, v, ok := strings.Cut(ct.Label, "="); ok {
			keys, vals = []string{k}, []string{v}
		}
		d, ok := descs[name]
		if !ok {
			d = prometheus.NewDesc(name, counterHelp(ct), keys, c.labels)
			descs[name] = d
		}
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(ct.Value), vals...)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range s.Ratios {
		num, ok := ratioNumerators[r.Family][r.Name]
		if !ok {
			continue
		}
		name := exporterNamespace + "_" + string(r.Family) + "_" + num.name + "_total"
		v := max(r.Num, c.last[name])
		c.last[name] = v
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, num.help, nil, c.labels), prometheus.CounterValue, v)
	}
}

// unitScale returns the metric name suffix for u and the factor that turns
// a value in u into that base unit.
func unitScale(u Unit) (suffix string, scale float64) {
	switch u {
	case UnitNanoseconds:
		return "_seconds", 1e-9
	case UnitMicroseconds:
		return "_seconds", 1e-6
	case UnitPercent:
		return "_ratio", 0.01
	case UnitPages, UnitBytes, UnitSegments:
		return "_" + string(u), 1
	}
	return "", 1
}

func (c *Collector) histogram(ch chan<- prometheus.Metric, h Histogram) {
	suffix, scale := unitScale(h.Unit)
	help := "Distribution of " + string(h.Family) + " " + h.Name + " (" + h.Method + ")."
	if !h.HasSum {
		help += " The probe keeps no exact sum: _sum adds each bucket's midpoint per value."
	}
	d := prometheus.NewDesc(exporterNamespace+"_"+string(h.Family)+"_"+h.Name+suffix, help, nil, c.labels)
	buckets := make(map[float64]uint64, len(h.Buckets))
	var cum uint64
	var est float64
	for i, b := range h.Buckets {
		cum += b.Count
		if b.High == math.MaxUint64 { // open-ended: counts only in +Inf
			est += float64(b.Count) * float64(b.Low)
			continue
		}
		est += float64(b.Count) * (float64(b.Low) + float64(b.High)) / 2
		if h.Scale == "log2" && i >= log2ExportSlots {
			continue
		}
		// Values are integers in [Low, High), so every one is <= High.
		buckets[float64(b.High)*scale] = cum
	}
	sum := est
	if h.HasSum {
		sum = float64(h.Sum)
	}
	ch <- prometheus.MustNewConstHistogram(d, h.Count, sum*scale, buckets)
}

func counterHelp(c Counter) string {
	return "Count of " + string(c.Family) + " " + c.Name + " in " + string(c.Unit) + " since the probes loaded (" + c.Method + ")."
}
