package bpf

import (
	"slices"
	"testing"
	"time"
)

func TestProgramRunsCountEveryEventWhileStatsAreOn(t *testing.T) {
	p := newTestProbes(t, Config{Families: []Family{FamilyFsync}})
	stats, err := EnableRunStats()
	if err != nil {
		t.Fatal(err)
	}
	defer stats.Close()

	f := tempFile(t, "data", 0)
	before, err := p.ProgramRuns()
	if err != nil {
		t.Fatal(err)
	}
	const n = 25
	for range n {
		if _, err := f.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	after, err := p.ProgramRuns()
	if err != nil {
		t.Fatal(err)
	}
	w := SubtractRuns(after, before)
	if len(w) != len(p.Methods(FamilyFsync)) {
		t.Fatalf("%d programs read, %d attached: %+v", len(w), len(p.Methods(FamilyFsync)), w)
	}
	i := slices.IndexFunc(w, func(r ProgramRun) bool { return r.Section == "tracepoint/syscalls/sys_enter_fsync" })
	if i < 0 {
		t.Fatalf("no sys_enter_fsync program among %+v", w)
	}
	// The program runs for every fsync on the machine; ours are n of them.
	if r := w[i]; r.Runs < n || r.Runtime <= 0 {
		t.Errorf("sys_enter_fsync over %d fsyncs: %d runs, %v", n, r.Runs, r.Runtime)
	}
	for j := 1; j < len(w); j++ {
		if w[j].Runtime > w[j-1].Runtime {
			t.Errorf("not sorted by run time: %+v", w)
		}
	}
	t.Logf("fsync family over %d fsyncs: %+v", n, w)
}

func TestSubtractRunsMatchesByFamilyAndSection(t *testing.T) {
	earlier := []ProgramRun{
		{Family: FamilyFsync, Section: "a", Runs: 10, Runtime: 100},
		{Family: FamilySockBuf, Section: "a", Runs: 5, Runtime: 50},
	}
	later := []ProgramRun{
		{Family: FamilySockBuf, Section: "a", Runs: 9, Runtime: 450},
		{Family: FamilyFsync, Section: "a", Runs: 30, Runtime: 300},
		{Family: FamilyFsync, Section: "b", Runs: 2, Runtime: 20}, // attached after the first reading
	}
	got := SubtractRuns(later, earlier)
	want := []ProgramRun{
		{Family: FamilySockBuf, Section: "a", Runs: 4, Runtime: 400},
		{Family: FamilyFsync, Section: "a", Runs: 20, Runtime: 200},
		{Family: FamilyFsync, Section: "b", Runs: 2, Runtime: 20},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("SubtractRuns = %+v, want %+v", got, want)
	}
	if d := got[1].PerRun(); d != 10*time.Nanosecond {
		t.Errorf("PerRun = %v, want 10ns", d)
	}
}
