package tuning

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestOverrideRecordsWhatChanged(t *testing.T) {
	p, err := LoadPlan("../plans/quick.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reps, warm, meas, seed := 2, 2*time.Second, 5*time.Second, uint64(99)
	q, err := p.Override(Overrides{Repetitions: &reps, Warmup: &warm, Measure: &meas, Seed: &seed})
	if err != nil {
		t.Fatal(err)
	}
	if q.Repetitions != 2 || q.Warmup != warm || q.Measure != meas || q.Seed != 99 {
		t.Errorf("overridden plan: repetitions %d warmup %s measure %s seed %d", q.Repetitions, q.Warmup, q.Measure, q.Seed)
	}
	want := []string{"repetitions: 8 -> 2", "warmup: 3s -> 2s", "measure: 10s -> 5s", "seed: 1 -> 99"}
	if q.Invocation == nil || !slices.Equal(q.Invocation.Overrides, want) || !q.Invocation.Reduced {
		t.Errorf("invocation %+v, want overrides %q and reduced", q.Invocation, want)
	}
	if p.Repetitions != 8 || p.Invocation != nil {
		t.Errorf("Override changed the original plan: %+v", p)
	}
	if len(q.Schedule()) != 2*len(q.Cells()) {
		t.Errorf("schedule of %d runs, want 2 rounds of %d cells", len(q.Schedule()), len(q.Cells()))
	}

	// A longer run is recorded but not reduced; the same values are no
	// override at all.
	more := 12
	q, err = p.Override(Overrides{Repetitions: &more})
	if err != nil {
		t.Fatal(err)
	}
	if q.Invocation == nil || q.Invocation.Reduced || q.Invocation.Overrides[0] != "repetitions: 8 -> 12" {
		t.Errorf("longer run: invocation %+v", q.Invocation)
	}
	same := 8
	if q, _ = p.Override(Overrides{Repetitions: &same}); q.Invocation != nil {
		t.Errorf("overriding with the plan's own value recorded %+v", q.Invocation)
	}

	// Overrides are validated like the plan.
	zero, short := 0, 100*time.Millisecond
	_, err = p.Override(Overrides{Repetitions: &zero, Measure: &short})
	if err == nil || !strings.Contains(err.Error(), "repetitions: 0") || !strings.Contains(err.Error(), "measure: 100ms") {
		t.Errorf("invalid overrides: err = %v, want both named", err)
	}
}

func TestInvocationSurvivesTheResultDirCopy(t *testing.T) {
	p, err := LoadPlan("../plans/quick.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reps := 2
	if p, err = p.Override(Overrides{Repetitions: &reps}); err != nil {
		t.Fatal(err)
	}
	p, _ = p.Degrade(Capabilities{})
	p.Invocation.Command = "bin/lab sweep -plan plans/quick.yaml -repetitions 2"
	file := filepath.Join(t.TempDir(), "plan.yaml")
	if err := writePlan(file, p); err != nil {
		t.Fatal(err)
	}
	q, err := LoadPlan(file) // what lab guide reads back
	if err != nil {
		t.Fatal(err)
	}
	if q.Invocation == nil || q.Invocation.Command != p.Invocation.Command || !q.Invocation.Reduced ||
		!slices.Equal(q.Invocation.Skipped, p.Invocation.Skipped) || !slices.Equal(q.Invocation.Overrides, p.Invocation.Overrides) {
		t.Errorf("read back %+v, want %+v", q.Invocation, p.Invocation)
	}
	if len(q.Cells()) != 1 || q.Cells()[0].Name != "baseline" {
		t.Errorf("read back cells %v, want the degraded plan's one baseline cell", q.Cells())
	}
}

func TestDegrade(t *testing.T) {
	noMount := AllCapabilities
	noMount.Mount = false
	noBPF := AllCapabilities
	noBPF.BPF = false
	for _, tc := range []struct {
		plan string
		caps Capabilities
		// cells of the degraded plan; notes: substrings of the notes, in order.
		cells []string
		notes []string
	}{
		{"quick.yaml", AllCapabilities, []string{"fs=ext4", "fs=xfs"}, nil},
		{"quick.yaml", Capabilities{}, []string{"baseline"}, []string{
			"disk and filesystem: the broker's log dir is a plain directory",
			"dimension fs left out: its levels (ext4, xfs) differ only in what this host cannot change",
			"drop_caches: the page cache is not emptied",
			"probes: not attached (loading eBPF programs needs root",
		}},
		{"ab-fs.yaml", noMount, []string{"durability=page-cache", "durability=fsync-on-ack"}, []string{
			"disk and filesystem", "dimension fs left out",
		}},
		{"tune.yaml", Capabilities{}, []string{"baseline", "sockbuf=large-4m", "gc=gogc-50", "gc=gogc-400", "gc=gogc-off-limit-768m", "procs=gomaxprocs-1",
			"flush=every-1000-msgs", "flush=every-100ms", "flush=fsync-on-ack", "fetch=copy", "segment=8m", "message-max=10m"}, []string{
			"disk and filesystem", "swap: no zram swap", "dimension fs left out", "dimension disk left out",
			"sysctl vm.swappiness: not set", "dimension swappiness left out",
			"sysctl vm.dirty_background_ratio, vm.dirty_ratio: not set", "dimension dirty left out",
			"sysctl net.core.rmem_max, net.core.wmem_max, net.ipv4.tcp_rmem, net.ipv4.tcp_wmem: not set",
			"memory_limit: the broker runs without a memory limit", "dimension memcg left out",
			"drop_caches", "probes: not attached",
		}},
		{"overhead.yaml", noBPF, []string{"baseline"}, []string{
			"dimension probes left out: its levels (none, all)", "probes: not attached",
		}},
		{"overhead.yaml", Capabilities{BPF: false, NoBPFReason: "-no-probes"}, []string{"baseline"}, []string{
			"dimension probes left out", "probes: not attached (-no-probes)",
		}},
		{"flush.yaml", noMount, []string{"flush=page-cache", "flush=every-1000-msgs", "flush=every-100ms", "flush=fsync-on-ack"},
			[]string{"disk and filesystem", "dimension fs left out"}},
	} {
		t.Run(tc.plan, func(t *testing.T) {
			p, err := LoadPlan("../plans/" + tc.plan)
			if err != nil {
				t.Fatal(err)
			}
			q, notes := p.Degrade(tc.caps)
			var cells []string
			for _, c := range q.Cells() {
				cells = append(cells, c.Name)
			}
			if !slices.Equal(cells, tc.cells) {
				t.Errorf("cells %q, want %q", cells, tc.cells)
			}
			if len(notes) != len(tc.notes) {
				t.Errorf("%d notes, want %d:\n%s", len(notes), len(tc.notes), strings.Join(notes, "\n"))
			} else {
				for i, n := range notes {
					if !strings.Contains(n, tc.notes[i]) {
						t.Errorf("note %d = %q, want it to contain %q", i, n, tc.notes[i])
					}
				}
			}
			if err := q.Validate(); err != nil {
				t.Errorf("degraded plan invalid: %v", err)
			}
			if len(notes) > 0 && (q.Invocation == nil || !slices.Equal(q.Invocation.Skipped, notes)) {
				t.Errorf("invocation %+v does not record the notes", q.Invocation)
			}
			for _, d := range p.Matrix {
				kept := slices.ContainsFunc(q.Matrix, func(e Dimension) bool { return e.Name == d.Name })
				left := q.Invocation != nil && slices.Contains(q.Invocation.LeftOut, d.Name)
				if kept == left {
					t.Errorf("dimension %s: kept %v, listed as left out %v", d.Name, kept, left)
				}
			}
			if len(notes) == 0 && q.Invocation != nil {
				t.Errorf("nothing skipped, but invocation %+v", q.Invocation)
			}
			for _, c := range q.Cells() {
				s := c.Settings
				if !tc.caps.Mount && (s.Disk != nil && s.Disk.Kind != DiskDir || s.Filesystem != nil || s.Swap != 0) {
					t.Errorf("cell %s keeps disk %+v filesystem %+v swap %v without Mount", c.Name, s.Disk, s.Filesystem, s.Swap)
				}
				if !tc.caps.Sysctl && len(s.Sysctl) > 0 {
					t.Errorf("cell %s keeps sysctls %v", c.Name, s.Sysctl)
				}
				if !tc.caps.Cgroups && s.MemoryLimit != 0 {
					t.Errorf("cell %s keeps memory limit %v", c.Name, s.MemoryLimit)
				}
				if !tc.caps.BPF && s.Probes != "" {
					t.Errorf("cell %s keeps probes %q", c.Name, s.Probes)
				}
			}
			if q.DropCaches && !tc.caps.DropCaches {
				t.Error("drop_caches kept")
			}
		})
	}
}

func TestCapabilitiesOf(t *testing.T) {
	const (
		all     = 0x000001ffffffffff
		bpfPerf = 1<<capBPF | 1<<capPerfmon
	)
	for _, tc := range []struct {
		name     string
		euid     int
		capEff   uint64
		cgroupOK bool
		want     Capabilities
	}{
		{"root", 0, all, true, AllCapabilities},
		{"nobody", 65534, 0, false, Capabilities{}},
		{"root without capabilities (a container)", 0, 0, false, Capabilities{}},
		{"a user with CAP_BPF and CAP_PERFMON", 1000, bpfPerf, false, Capabilities{BPF: true}},
		{"a user with CAP_BPF only", 1000, 1 << capBPF, false, Capabilities{}},
		{"a user with a delegated cgroup", 1000, 0, true, Capabilities{Cgroups: true}},
		{"a user with CAP_SYS_ADMIN only", 1000, 1 << capSysAdmin, false, Capabilities{Mount: true, BPF: true}},
	} {
		if got := capabilitiesOf(tc.euid, tc.capEff, tc.cgroupOK); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestProbesKnob(t *testing.T) {
	bad := strings.Replace(goodPlan, "base:\n", "base:\n  probes: some\n", 1)
	if _, err := ParsePlan([]byte(bad)); err == nil || !strings.Contains(err.Error(), `base.probes: "some": want all or none`) {
		t.Errorf("probes: some: err = %v", err)
	}
	p, err := LoadPlan("../plans/overhead.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range p.Cells() {
		got = append(got, c.Settings.Probes)
	}
	if !slices.Equal(got, []string{ProbesNone, ProbesAll}) {
		t.Errorf("overhead cells' probes %q, want none then all", got)
	}
}
