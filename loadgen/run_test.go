package loadgen

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// newCluster starts an in-process kfake on a loopback port; closed at cleanup.
func newCluster(tb testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	tb.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		tb.Fatalf("starting kfake: %v", err)
	}
	tb.Cleanup(c.Close)
	return c
}

// testWorkload is a small workload: 1 topic, 1 partition, 1 KiB messages.
func testWorkload(rate float64, seconds int) Workload {
	w := Workload{
		Name: "test", Topics: 1, PartitionsPerTopic: 1, MessageSize: 1024,
		ProducersPerTopic: 1, ProducerRate: rate, TestDurationSeconds: seconds,
	}
	w.setDefaults()
	return w
}

func runOrFail(t *testing.T, c *kfake.Cluster, w Workload, d Driver, o Options) *Result {
	t.Helper()
	o.Brokers = c.ListenAddrs()
	if testing.Verbose() {
		o.Progress = testWriter{t}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	res, err := Run(ctx, w, d, o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestPacedRunFollowsTheSchedule runs a paced workload end to end. How
// closely the achieved rate follows the target depends on the machine's
// load, so that is BenchmarkPacingAccuracy's measure; here the schedule's
// bound holds whatever the load: no record is sent before its slot is due,
// so the run cannot send more than rate x its duration (+1 for slot 0).
func TestPacedRunFollowsTheSchedule(t *testing.T) {
	c := newCluster(t)
	res := runOrFail(t, c, testWorkload(200, 2), DefaultDriver(), Options{})
	// The windows span the run from the producers' start (slot 0's due
	// time) to the end of the tail, after the last send.
	first, last := res.Windows[0], res.Windows[len(res.Windows)-1]
	secs := last.StartSeconds + last.Seconds - first.StartSeconds
	tot := res.Totals
	if limit := int64(200*secs) + 1; tot.Sent > limit || tot.Sent == 0 {
		t.Errorf("sent %d records in %.3fs at 200 msg/s: want some, and at most %d", tot.Sent, secs, limit)
	}
	if tot.Acked != tot.Sent || tot.ProduceErrors != 0 {
		t.Errorf("totals %+v: want every sent record acknowledged", tot)
	}
	if res.Aggregate.TargetRate != 200 {
		t.Errorf("aggregate target rate %v, want 200", res.Aggregate.TargetRate)
	}
	if res.Aggregate.Errors != 0 {
		t.Errorf("errors: %d", res.Aggregate.Errors)
	}
	if res.Aggregate.PublishLatency.Count == 0 || res.Aggregate.PublishDelay.Count == 0 {
		t.Errorf("no latency recorded: %+v", res.Aggregate)
	}
}

func TestEndToEndLatencyIsMeasured(t *testing.T) {
	c := newCluster(t)
	w := testWorkload(500, 2)
	w.PartitionsPerTopic = 4
	w.SubscriptionsPerTopic = 1
	w.ConsumerPerSubscription = 2
	w.KeyDistributor = KeyRoundRobin
	res := runOrFail(t, c, w, DefaultDriver(), Options{})
	a := res.Aggregate
	tot := res.Totals
	if !tot.Drained || tot.Acked == 0 || len(tot.Subscriptions) != 1 {
		t.Fatalf("totals %+v: want every acked record consumed by the one subscription", tot)
	}
	received := tot.Subscriptions[0].Received
	if sub := tot.Subscriptions[0]; sub.Acked != tot.Acked || received-sub.Duplicates != tot.Acked {
		t.Errorf("subscription %+v: want %d acked records received once each", sub, tot.Acked)
	}
	var winReceived int64
	for _, w := range res.Windows {
		winReceived += w.Received
	}
	if winReceived != received {
		t.Errorf("windows received %d records, totals %d: the windows must tile the run", winReceived, received)
	}
	if a.EndToEnd.Count != received {
		t.Errorf("end-to-end samples %d, want one per received record (%d)", a.EndToEnd.Count, received)
	}
	if a.EndToEnd.P50Us < a.PublishLatency.P50Us/2 {
		t.Errorf("end-to-end p50 %dus implausibly below publish latency p50 %dus", a.EndToEnd.P50Us, a.PublishLatency.P50Us)
	}
}

// slowProduce makes every Produce request take d, so a target above the
// resulting capacity cannot be held.
func slowProduce(c *kfake.Cluster, d time.Duration) {
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		time.Sleep(d)
		return nil, nil, false
	})
}

func TestSlowTargetIsFlagged(t *testing.T) {
	c := newCluster(t)
	slowProduce(c, 20*time.Millisecond)
	d := DefaultDriver()
	d.Producer.BatchBytes = 16 << 10 // 16 records per request: <= 800 msg/s at 20 ms each
	d.Producer.BufferRecords = 100
	d.Producer.MaxInFlight = 1
	res := runOrFail(t, c, testWorkload(2000, 3), d, Options{DrainTimeout: 2 * time.Second})
	if res.Verdict.TargetHeld {
		t.Fatalf("verdict says the target was held: %+v, aggregate %+v", res.Verdict, res.Aggregate)
	}
	var growing, notHeld bool
	for _, r := range res.Verdict.Reasons {
		growing = growing || strings.Contains(r, "publish delay growing")
		notHeld = notHeld || strings.Contains(r, "target rate not held")
	}
	if !growing || !notHeld {
		t.Errorf("reasons %q: want both 'target rate not held' and 'publish delay growing'", res.Verdict.Reasons)
	}
	var ms []Window
	for _, w := range res.Windows {
		if w.Phase == PhaseMeasure {
			ms = append(ms, w)
		}
	}
	if len(ms) < 2 || ms[len(ms)-1].PublishDelay.P99Us <= ms[0].PublishDelay.P99Us {
		t.Errorf("publish delay p99 per window did not grow: %v", delaySeries(ms))
	}
}

func delaySeries(ws []Window) []int64 {
	var out []int64
	for _, w := range ws {
		out = append(out, w.PublishDelay.P99Us)
	}
	return out
}

func TestBacklogDrains(t *testing.T) {
	c := newCluster(t)
	w := testWorkload(1000, 30)
	w.SubscriptionsPerTopic = 1
	w.ConsumerPerSubscription = 1
	w.ConsumerBacklogSizeGB = 1.0 / 1024 // 1 MiB: about a second of production
	res := runOrFail(t, c, w, DefaultDriver(), Options{})
	b := res.Backlog
	if b == nil || !b.Drained {
		t.Fatalf("backlog not drained: %+v", b)
	}
	// It ended because the backlog drained, not at the 30 s time limit.
	if !strings.HasPrefix(b.StopCondition, "drained") {
		t.Errorf("stop condition %q: want drained", b.StopCondition)
	}
	if b.BuiltBytes < b.TargetBytes {
		t.Errorf("built %d bytes, want at least %d", b.BuiltBytes, b.TargetBytes)
	}
}

func TestBacklogStopsAtTimeLimit(t *testing.T) {
	c := newCluster(t)
	// Fetches return nothing after 100 ms, so the backlog can never drain.
	c.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { time.Sleep(100 * time.Millisecond) })
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.Version = req.GetVersion()
		return resp, nil, true
	})
	w := testWorkload(4000, 3)
	w.SubscriptionsPerTopic = 1
	w.ConsumerPerSubscription = 1
	w.ConsumerBacklogSizeGB = 1.0 / 1024
	// runOrFail fails the test if Run has not ended by itself within its
	// context's 90 s.
	res := runOrFail(t, c, w, DefaultDriver(), Options{DrainTimeout: 2 * time.Second})
	b := res.Backlog
	if b == nil || b.Drained {
		t.Fatalf("backlog drained though fetches return nothing: %+v", b)
	}
	if !strings.Contains(b.StopCondition, "time limit") {
		t.Errorf("stop condition %q: want the time limit", b.StopCondition)
	}
	if res.Totals.Drained {
		t.Errorf("totals say drained though fetches return nothing: %+v", res.Totals)
	}
}

func TestMaxRateSearchFindsTheCapacity(t *testing.T) {
	c := newCluster(t)
	slowProduce(c, 20*time.Millisecond)
	d := DefaultDriver()
	d.Producer.BatchBytes = 16 << 10 // small requests at 20 ms each: a few hundred msg/s at most
	d.Producer.BufferRecords = 100
	w := testWorkload(0, 1)
	res := runOrFail(t, c, w, d, Options{
		Window: 250 * time.Millisecond, SearchStartRate: 200, SearchMaxDuration: 8 * time.Second, DrainTimeout: 2 * time.Second,
	})
	rs := res.RateSearch
	if rs == nil || len(rs.Steps) < 3 {
		t.Fatalf("rate search %+v: want at least 3 steps", rs)
	}
	var failed bool
	for _, s := range rs.Steps {
		failed = failed || !s.OK
	}
	if !failed {
		t.Errorf("no step failed against a target capped at a few hundred msg/s: %+v", rs.Steps)
	}
	// The upper bound is the target's capacity; the lower bound only that
	// some rate passed (a loaded test machine lowers what passes).
	if rs.MaxSustainable <= 0 || rs.MaxSustainable > 1000 {
		t.Errorf("max sustainable %v msg/s, want above 0 and at most 1000 (capacity a few hundred)", rs.MaxSustainable)
	}
	if math.Abs(rs.SettledRate-0.9*rs.MaxSustainable) > 1e-6 || math.Abs(res.Aggregate.TargetRate-rs.SettledRate) > 1e-6 {
		t.Errorf("settled %v, measured at %v, want 0.9 x %v", rs.SettledRate, res.Aggregate.TargetRate, rs.MaxSustainable)
	}
	if !strings.Contains(rs.Method, "bisect") {
		t.Errorf("method %q does not describe the rule", rs.Method)
	}
}

func TestRunEndsWhenTheTargetStopsAnswering(t *testing.T) {
	c := newCluster(t)
	// Produce requests are read and never answered.
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, nil, true
	})
	d := DefaultDriver()
	d.Producer.BufferRecords = 50 // Produce blocks once 50 records wait
	// runOrFail fails the test if Run has not ended by itself within its
	// context's 90 s.
	res := runOrFail(t, c, testWorkload(500, 2), d, Options{DrainTimeout: time.Second})
	if res.Verdict.TargetHeld {
		t.Errorf("verdict: held, though nothing was acknowledged: %+v", res.Aggregate)
	}
	if res.Aggregate.Acked != 0 {
		t.Errorf("acked %d records from a target that never answers", res.Aggregate.Acked)
	}
	if !strings.Contains(strings.Join(res.Verdict.Reasons, "\n"), "publish delay growing") {
		t.Errorf("reasons %q: want the stalled producers flagged as publish delay growing", res.Verdict.Reasons)
	}
}
