package loadgen

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// fakeTarget is a target that acknowledges up to capacity msg/s, on a
// clock that advances one window per window run. Windows whose number
// (from 1, over the whole search) is in stalls acknowledge nothing and end
// behind the schedule, as a loaded machine's stall does.
type fakeTarget struct {
	capacity float64
	win      time.Duration
	stalls   map[int]bool
	calls    int
	elapsed  time.Duration
}

func (f *fakeTarget) source() searchSource {
	return searchSource{window: f.window, now: func() time.Duration { return f.elapsed }}
}

func (f *fakeTarget) window(_ context.Context, rate float64) (searchReading, error) {
	f.calls++
	f.elapsed += f.win
	secs := f.win.Seconds()
	rd := searchReading{Seconds: secs, Acked: int64(min(rate, f.capacity) * secs)}
	if rate > f.capacity {
		rd.InFlightGrowth = int64((rate - f.capacity) * secs)
		rd.ScheduleLagUs = time.Second.Microseconds()
	}
	if f.stalls[f.calls] {
		rd.Acked, rd.ScheduleLagUs, rd.InFlightGrowth = 0, (200 * time.Millisecond).Microseconds(), int64(rate*secs)
	}
	return rd, nil
}

func searchOptions() Options {
	return Options{Window: time.Second, DelayLimit: 50 * time.Millisecond, SearchStartRate: 1000,
		SearchStepWindows: 2, SearchMaxDuration: time.Hour, SettleRatio: 0.9}
}

func runSearch(t *testing.T, o Options, f *fakeTarget) *RateSearch {
	t.Helper()
	rs, rate, err := searchRate(context.Background(), o, f.source(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if rate != rs.SettledRate {
		t.Errorf("returned rate %v, recorded settled rate %v", rate, rs.SettledRate)
	}
	return rs
}

func stepAt(t *testing.T, rs *RateSearch, rate float64) SearchStep {
	t.Helper()
	for _, s := range rs.Steps {
		if s.Rate == rate {
			return s
		}
	}
	t.Fatalf("no step at %v msg/s in %+v", rate, rs.Steps)
	return SearchStep{}
}

func TestRateSearchFindsTheCapacityOfAFakeTarget(t *testing.T) {
	rs := runSearch(t, searchOptions(), &fakeTarget{capacity: 10_000, win: time.Second})
	if rs.MaxSustainable < 10_000/1.1 || rs.MaxSustainable > 10_000 {
		t.Errorf("max sustainable %v msg/s, want within 10%% below the capacity 10000; steps %+v", rs.MaxSustainable, rs.Steps)
	}
	if s := stepAt(t, rs, 16_000); s.OK || s.FailedWindows != searchFailStreak {
		t.Errorf("step above the capacity %+v: want failed after %d windows", s, searchFailStreak)
	}
}

func TestRateSearchStepSurvivesOneStalledWindow(t *testing.T) {
	// Steps: 1000 (windows 1-2), 2000 (3-4), 4000 (5-6, then 7): window 6,
	// the step's first judged window, stalls; window 7 passes.
	rs := runSearch(t, searchOptions(), &fakeTarget{capacity: 10_000, win: time.Second, stalls: map[int]bool{6: true}})
	s := stepAt(t, rs, 4000)
	if !s.OK || !strings.Contains(s.Forgiven, "behind schedule") {
		t.Errorf("step with one stalled window %+v: want passed, the stall recorded as forgiven", s)
	}
	if rs.MaxSustainable < 10_000/1.1 {
		t.Errorf("max sustainable %v msg/s after one stall: the stall lowered the search's result; steps %+v", rs.MaxSustainable, rs.Steps)
	}
}

func TestRateSearchStepFailsOnTwoStalledWindowsInARow(t *testing.T) {
	rs := runSearch(t, searchOptions(), &fakeTarget{capacity: 10_000, win: time.Second, stalls: map[int]bool{6: true, 7: true}})
	s := stepAt(t, rs, 4000)
	if s.OK || s.FailedWindows != 2 || !strings.Contains(s.Reason, "acknowledged 0 msg/s") {
		t.Errorf("step with two stalled windows in a row %+v: want failed after 2 windows, saying why", s)
	}
	if rs.MaxSustainable < 2000 || rs.MaxSustainable >= 4000 {
		t.Errorf("max sustainable %v msg/s: want between the last passing (2000) and the failed (4000) rate", rs.MaxSustainable)
	}
}

func TestRateSearchStopsAtItsTimeBound(t *testing.T) {
	o := searchOptions()
	o.SearchMaxDuration = 5 * time.Second
	f := &fakeTarget{capacity: 1e9, win: time.Second}
	rs := runSearch(t, o, f)
	// Two windows a step on the fake clock: the third step ends at 6 s.
	if len(rs.Steps) != 3 || f.elapsed != 6*time.Second {
		t.Errorf("%d steps over %v of the fake clock, want 3 steps over 6s", len(rs.Steps), f.elapsed)
	}
}

// TestSearchSetsTheRateOncePerStep: the producers' schedule is re-anchored
// only as a step begins, so a forgiven or settling window's lag still counts
// in the windows after it.
func TestSearchSetsTheRateOncePerStep(t *testing.T) {
	f := &fakeTarget{capacity: 20000, win: time.Second, stalls: map[int]bool{4: true}}
	src := f.source()
	var set []float64
	src.startStep = func(rate float64) { set = append(set, rate) }
	rs, _, err := searchRate(context.Background(), searchOptions(), src, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(set) != len(rs.Steps) {
		t.Fatalf("rate set %d times for %d steps: %v", len(set), len(rs.Steps), set)
	}
	for i, s := range rs.Steps {
		if set[i] != s.Rate {
			t.Errorf("step %d at %v msg/s, rate set to %v", i, s.Rate, set[i])
		}
	}
	if f.calls <= len(rs.Steps) {
		t.Fatalf("%d windows for %d steps: the test needs steps of several windows", f.calls, len(rs.Steps))
	}
}
