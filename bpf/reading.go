package bpf

import (
	"fmt"
	"math"
	"time"
)

// Family names one group of probes that answers one question.
type Family string

// The probe families.
const (
	FamilyFsync     Family = "fsync"
	FamilyPageCache Family = "pagecache"
	FamilySwap      Family = "swap"
	FamilySockBuf   Family = "sockbuf"
	FamilySendfile  Family = "sendfile"
)

// Families returns every family in display order.
func Families() []Family {
	return []Family{FamilyFsync, FamilyPageCache, FamilySwap, FamilySockBuf, FamilySendfile}
}

// ParseFamily returns the family with the given name, or an error wrapping
// ErrUnknownFamily.
func ParseFamily(s string) (Family, error) {
	for _, f := range Families() {
		if string(f) == s {
			return f, nil
		}
	}
	return "", &familyError{name: s}
}

type familyError struct{ name string }

func (e *familyError) Error() string {
	return "probe family " + `"` + e.name + `"` + ": want one of fsync, pagecache, swap, sockbuf, sendfile"
}

func (e *familyError) Unwrap() error { return ErrUnknownFamily }

// Unit is the unit of a reading.
type Unit string

// Units used by the readings.
const (
	UnitNanoseconds  Unit = "ns"
	UnitMicroseconds Unit = "us"
	UnitPages        Unit = "pages"
	UnitBytes        Unit = "bytes"
	UnitPercent      Unit = "percent"
	UnitSegments     Unit = "segments"
	UnitEvents       Unit = "events"
	UnitRatio        Unit = "ratio"
)

// Bucket is one histogram bucket counting values in [Low, High).
type Bucket struct {
	Low   uint64 `json:"low"`
	High  uint64 `json:"high"`
	Count uint64 `json:"count"`
}

// Histogram is a distribution read from a probe's histogram map.
type Histogram struct {
	Family Family `json:"family"`
	Name   string `json:"name"`
	// Method is the program section(s) that produced the reading.
	Method string `json:"method"`
	Unit   Unit   `json:"unit"`
	// Scale is "log2" (bucket i holds [2^i, 2^(i+1)), bucket 0 holds [0, 2))
	// or "linear" (equal widths; the last bucket is open-ended, High is
	// math.MaxUint64).
	Scale   string   `json:"scale"`
	Buckets []Bucket `json:"buckets"`
	// Count is the number of values; Sum their total in Unit, when the
	// probe keeps one (HasSum).
	Count  uint64 `json:"count"`
	Sum    uint64 `json:"sum,omitempty"`
	HasSum bool   `json:"has_sum"`
}

// Mean returns Sum/Count, or NaN without a sum or values.
func (h Histogram) Mean() float64 {
	if !h.HasSum || h.Count == 0 {
		return math.NaN()
	}
	return float64(h.Sum) / float64(h.Count)
}

// Quantile returns an upper bound of the q-quantile (the High of the bucket
// where the cumulative count reaches q), or 0 without values.
func (h Histogram) Quantile(q float64) uint64 {
	if h.Count == 0 {
		return 0
	}
	target := uint64(math.Ceil(q * float64(h.Count)))
	var cum uint64
	for _, b := range h.Buckets {
		cum += b.Count
		if cum >= target && b.Count > 0 {
			return b.High
		}
	}
	return h.Buckets[len(h.Buckets)-1].High
}

// Estimate returns the q-quantile estimated by linear interpolation inside
// the bucket where the cumulative count reaches q, as Prometheus's
// histogram_quantile does: the rank's position among the bucket's values
// places the estimate between the bucket's bounds. Unlike Quantile, whose
// answer jumps from one bucket edge to the next (a log2 histogram can only
// say "doubled" or "halved"), the estimate moves smoothly with the data, so
// a comparison of two runs is not dominated by bucket edges. The open-ended
// last bucket of a linear histogram answers its lower bound. 0 without
// values.
func (h Histogram) Estimate(q float64) float64 {
	if h.Count == 0 {
		return 0
	}
	q = math.Min(math.Max(q, 0), 1)
	rank := q * float64(h.Count)
	var cum float64
	for _, b := range h.Buckets {
		if b.Count == 0 {
			continue
		}
		next := cum + float64(b.Count)
		if next >= rank {
			if b.High == math.MaxUint64 {
				return float64(b.Low)
			}
			frac := (rank - cum) / float64(b.Count)
			return float64(b.Low) + frac*float64(b.High-b.Low)
		}
		cum = next
	}
	return float64(h.Max())
}

// Max returns the lower bound of the highest non-empty bucket (the largest
// value seen, to bucket precision), or 0 without values.
func (h Histogram) Max() uint64 {
	for i := len(h.Buckets) - 1; i >= 0; i-- {
		if h.Buckets[i].Count > 0 {
			return h.Buckets[i].Low
		}
	}
	return 0
}

// Counter is a monotonically increasing count since load.
type Counter struct {
	Family Family `json:"family"`
	Name   string `json:"name"`
	// Label distinguishes instances of one counter (memcg=ID, reason=NAME).
	Label  string `json:"label,omitempty"`
	Method string `json:"method"`
	Unit   Unit   `json:"unit"`
	Value  uint64 `json:"value"`
}

// Ratio is Num/Den computed from counters of the same snapshot or window.
type Ratio struct {
	Family Family  `json:"family"`
	Name   string  `json:"name"`
	Method string  `json:"method"`
	Num    float64 `json:"num"`
	Den    float64 `json:"den"`
	// Value is Num/Den clipped to [0, 1]; Valid is false when Den is 0.
	Value float64 `json:"value"`
	Valid bool    `json:"valid"`
}

func newRatio(f Family, name, method string, num, den float64) Ratio {
	r := Ratio{Family: f, Name: name, Method: method, Num: num, Den: den}
	if den > 0 {
		r.Valid = true
		r.Value = min(max(num/den, 0), 1)
	}
	return r
}

// Snapshot holds every reading of the loaded families at one moment. Counts
// are totals since load; Delta turns two snapshots into one window.
type Snapshot struct {
	Time       time.Time   `json:"time"`
	Window     Duration    `json:"window,omitempty"`
	Histograms []Histogram `json:"histograms"`
	Counters   []Counter   `json:"counters"`
	Ratios     []Ratio     `json:"ratios"`
}

// Duration is a time.Duration that marshals as a string ("1.5s").
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("parsing window %q: %w", b, err)
	}
	*d = Duration(v)
	return nil
}

// Counter returns the counter with the given family, name and label.
func (s Snapshot) Counter(f Family, name, label string) (Counter, bool) {
	for _, c := range s.Counters {
		if c.Family == f && c.Name == name && c.Label == label {
			return c, true
		}
	}
	return Counter{}, false
}

// Value returns the value of an unlabelled counter, 0 if absent.
func (s Snapshot) Value(f Family, name string) uint64 {
	c, _ := s.Counter(f, name, "")
	return c.Value
}

// Histogram returns the histogram with the given family and name.
func (s Snapshot) Histogram(f Family, name string) (Histogram, bool) {
	for _, h := range s.Histograms {
		if h.Family == f && h.Name == name {
			return h, true
		}
	}
	return Histogram{}, false
}

// Ratio returns the ratio with the given family and name.
func (s Snapshot) Ratio(f Family, name string) (Ratio, bool) {
	for _, r := range s.Ratios {
		if r.Family == f && r.Name == name {
			return r, true
		}
	}
	return Ratio{}, false
}

// Delta returns the readings of the window between prev and s: counters and
// histogram buckets are subtracted, ratios are
// recomputed from the window's counters. A reading absent from prev is taken
// whole.
func (s Snapshot) Delta(prev Snapshot) Snapshot {
	out := Snapshot{Time: s.Time, Window: Duration(s.Time.Sub(prev.Time))}
	for _, c := range s.Counters {
		if p, ok := prev.Counter(c.Family, c.Name, c.Label); ok {
			c.Value = sub(c.Value, p.Value)
		}
		out.Counters = append(out.Counters, c)
	}
	for _, h := range s.Histograms {
		h.Buckets = append([]Bucket(nil), h.Buckets...)
		if p, ok := prev.Histogram(h.Family, h.Name); ok && len(p.Buckets) == len(h.Buckets) {
			for i := range h.Buckets {
				h.Buckets[i].Count = sub(h.Buckets[i].Count, p.Buckets[i].Count)
			}
			h.Count = sub(h.Count, p.Count)
			h.Sum = sub(h.Sum, p.Sum)
		}
		out.Histograms = append(out.Histograms, h)
	}
	out.Ratios = deriveRatios(out)
	return out
}

func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// deriveRatios computes every family's ratios from the counters in s.
func deriveRatios(s Snapshot) []Ratio {
	var rs []Ratio
	seen := map[Family]bool{}
	for _, c := range s.Counters {
		seen[c.Family] = true
	}
	for _, f := range Families() {
		if !seen[f] {
			continue
		}
		if d := familyDefs[f]; d.ratios != nil {
			rs = append(rs, d.ratios(s)...)
		}
	}
	return rs
}
