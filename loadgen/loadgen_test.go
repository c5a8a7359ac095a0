package loadgen

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerlab/brokerlab/internal/testutil"
	"github.com/brokerlab/brokerlab/procsample"
)

func TestHistogramsMergeLikeOneCombined(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	parts := []*recorder{newRecorder(), newRecorder(), newRecorder(), newRecorder()}
	combined := newHist()
	for i := 0; i < 100000; i++ {
		// A long-tailed mix from 1 µs to about 10 s.
		ns := int64(1000 * (1 + rng.ExpFloat64()*rng.ExpFloat64()*rng.ExpFloat64()*500))
		recordUs(parts[i%len(parts)].e2e, ns)
		recordUs(combined, ns)
	}
	var hs = mergeAll(parts[0].e2e, parts[1].e2e, parts[2].e2e, parts[3].e2e)
	if diff := cmp.Diff(quantilesOf(combined), quantilesOf(hs)); diff != "" {
		t.Errorf("merged quantiles differ from one combined histogram (-combined +merged):\n%s", diff)
	}
	if diff := cmp.Diff(curveOf(combined), curveOf(hs)); diff != "" {
		t.Errorf("merged curve differs (-combined +merged):\n%s", diff)
	}
	// Known values: 1..1000 ms once each.
	known := []*recorder{newRecorder(), newRecorder(), newRecorder()}
	for v := int64(1); v <= 1000; v++ {
		recordUs(known[v%3].pubLat, v*int64(time.Millisecond))
	}
	q := quantilesOf(mergeAll(known[0].pubLat, known[1].pubLat, known[2].pubLat))
	for _, c := range []struct {
		name      string
		got, want int64
	}{{"count", q.Count, 1000}, {"p50", q.P50Us, 500_000}, {"p99", q.P99Us, 990_000}, {"max", q.MaxUs, 1_000_000}} {
		// 3 significant digits: within 0.1%.
		if d := c.got - c.want; d > c.want/1000 || d < -c.want/1000 {
			t.Errorf("%s = %d, want %d within 0.1%%", c.name, c.got, c.want)
		}
	}
}

// sampleResult is a fully populated result for schema and table tests.
func sampleResult(label string, scale float64) *Result {
	w := testWorkload(1000*scale, 60)
	w.Name = label
	w.SubscriptionsPerTopic, w.ConsumerPerSubscription = 1, 2
	q := func(base int64) Quantiles {
		b := int64(float64(base) * scale)
		return Quantiles{Count: 60000, MeanUs: float64(b) * 1.1, P50Us: b, P75Us: b * 2, P95Us: b * 3, P99Us: b * 5, P999Us: b * 9, P9999Us: b * 20, MaxUs: b * 40}
	}
	win := Window{StartSeconds: 0, Seconds: 1, Phase: PhaseMeasure, TargetRate: 1000 * scale, Sent: 1000, Acked: 1000, Received: 1000,
		PublishBytes: 1024000, ConsumeBytes: 1024000, PublishRate: 1000 * scale, PublishMBps: 1.024 * scale, ConsumeRate: 1000 * scale,
		ConsumeMBps: 1.024 * scale, PublishLatency: q(800), PublishDelay: q(40), EndToEnd: q(1500)}
	win2 := win
	win2.StartSeconds = 1
	return &Result{
		SchemaVersion: SchemaVersion,
		StartedAt:     time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC),
		Label:         label, Workload: w, Driver: DefaultDriver(),
		Target:        Target{Brokers: []string{"127.0.0.1:9092"}, Name: "broker", Version: "0.1", Config: map[string]string{"log.flush.interval.messages": "1"}},
		Environment:   procsample.Environment{Hostname: "lab", Kernel: "6.18.0", Arch: "amd64", CPUModel: "Test CPU", CPUs: 2, MemTotalBytes: 24 << 30, GoVersion: "go1.26", LogDir: "/data", FSType: "xfs", Device: "/dev/loop0", MountPoint: "/data", MountOptions: "rw"},
		Ceilings:      &Ceilings{Dir: "/data", FSType: "xfs", BlockBytes: 1 << 20, SecondsEach: 2, WriteMBps: 900, FsyncMBps: 300, FsyncP50Us: 800, FsyncP99Us: 3000, SendfileMBps: 4000, TCPMBps: 2500},
		WindowSeconds: 1,
		RateSearch:    &RateSearch{Method: "ramp", Steps: []SearchStep{{Rate: 1000, Achieved: 1000, OK: true}, {Rate: 2000, Achieved: 1500, PublishDelayUs: 90000, OK: false, Reason: "slow"}}, SettledRate: 900, MaxSustainable: 1000},
		Backlog:       &BacklogResult{TargetBytes: 1 << 30, BuiltBytes: 1 << 30, BuildSeconds: 10, DrainSeconds: 5, Drained: true, DrainRate: 200000, DrainMBps: 204.8, StopCondition: "drained"},
		Windows:       []Window{win, win2},
		Aggregate: Aggregate{Seconds: 2, TargetRate: 1000 * scale, Sent: 2000, Acked: 2000, Received: 2000, PublishRate: 1000 * scale, PublishMBps: 1.024 * scale,
			ConsumeRate: 1000 * scale, ConsumeMBps: 1.024 * scale, PublishLatency: q(800), PublishDelay: q(40), EndToEnd: q(1500)},
		Curves:  Curves{EndToEnd: []CurvePoint{{50, 1500}, {99, 7500}, {100, 60000}}, PublishLatency: []CurvePoint{{50, 800}, {99, 4000}, {100, 32000}}},
		Verdict: Verdict{TargetHeld: true, AchievedRatio: 1},
	}
}

func TestResultRoundTrips(t *testing.T) {
	want := sampleResult("a", 1)
	path := filepath.Join(t.TempDir(), "result.json")
	if err := want.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadResult(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip changed the result (-want +got):\n%s", diff)
	}
	// A result from another schema version is refused with the fix.
	data, _ := os.ReadFile(path)
	old := bytes.Replace(data, []byte(`"schema_version": 1`), []byte(`"schema_version": 0`), 1)
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadResult(path); err == nil || !strings.Contains(err.Error(), "schema_version 0") {
		t.Errorf("reading schema_version 0: err %v, want a schema_version error", err)
	}
}

func TestTableRenders(t *testing.T) {
	rs := []*Result{sampleResult("kfake", 1), sampleResult("broker", 1.5)}
	rs[1].Backlog = nil
	rs[1].RateSearch = nil
	rs[1].Verdict = Verdict{TargetHeld: false, AchievedRatio: 0.8, Reasons: []string{"target rate not held"}}
	for _, md := range []bool{false, true} {
		name := "terminal"
		if md {
			name = "markdown"
		}
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := RenderTable(&b, rs, md); err != nil {
				t.Fatal(err)
			}
			testutil.Golden(t, b.Bytes())
		})
	}
	t.Run("summary", func(t *testing.T) {
		var b bytes.Buffer
		if err := WriteSummary(&b, rs[1]); err != nil {
			t.Fatal(err)
		}
		testutil.Golden(t, b.Bytes())
	})
}

func TestChartsAreWritten(t *testing.T) {
	dir := t.TempDir()
	a, b := sampleResult("a", 1), sampleResult("b", 2)
	search := a.Windows[0]
	search.Phase, search.TargetRate, search.PublishRate = PhaseSearch, 4000, 2500
	a.Windows = append([]Window{search}, a.Windows...)
	files, err := WriteCharts(dir, []*Result{a, b})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, []byte("\x89PNG")) {
			t.Errorf("%s is not a PNG", f)
		}
	}
	// One format, so that a README embeds each chart once.
	if want := []string{"latency-quantiles.png", "throughput.png", "rate-search.png"}; !slices.Equal(names, want) {
		t.Errorf("wrote %v, want %v", names, want)
	}
}

func TestChartInputsSeparateTheSearchFromTheHeldRate(t *testing.T) {
	r := sampleResult("a", 1)
	mk := func(phase string, start, target, rate float64) Window {
		w := r.Windows[0]
		w.Phase, w.StartSeconds, w.TargetRate, w.PublishRate = phase, start, target, rate
		return w
	}
	r.Windows = []Window{
		mk(PhaseSearch, 0, 1000, 1000), mk(PhaseSearch, 1, 2000, 1900), mk(PhaseSearch, 2, 4000, 2500),
		mk(PhaseWarmup, 3, 1800, 1800), mk(PhaseMeasure, 4, 1800, 1790), mk(PhaseMeasure, 5, 1800, 1810),
		mk(PhaseTail, 6, 0, 5),
	}
	pub, _, target := heldSeries(r)
	if len(pub) != 3 || pub[0].X != 0.5 || pub[2].Y != 1810 {
		t.Errorf("held windows %v, want warm-up and the two measured, x from the warm-up's start", pub)
	}
	if len(target) != 3 || target[0].Y != 1800 {
		t.Errorf("target line %v, want 1800 msg/s over the held windows", target)
	}
	spub, starget := searchSeries(r)
	if len(spub) != 3 || starget[2].Y != 4000 || spub[2].Y != 2500 {
		t.Errorf("search series %v asked %v, want the three search windows", spub, starget)
	}
	if p, err := searchPlot([]*Result{sampleResult("b", 1)}); err != nil || p != nil {
		t.Errorf("a result without search windows got a search chart (%v)", err)
	}
}

func testRand() *rand.Rand { return rand.New(rand.NewPCG(7, 8)) }
