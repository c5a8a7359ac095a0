package check

import (
	"strings"
	"testing"
)

// fakeHost is a /proc and /sys tree under testdata: swappiness 1, dirty
// ratio 20, wmem_max at the kernel default, a zram swap, THP madvise, two
// CPUs on powersave, tsc, pid 4242 (self) with 1048576 open files, and
// /var/lib/kafka on an xfs disk 8:16 (noatime, scheduler none).
func fakeHost(t *testing.T, cfg Config) map[string]Row {
	t.Helper()
	cfg.ProcRoot, cfg.SysRoot = "testdata/host/proc", "testdata/host/sys"
	rows, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]Row{}
	for _, r := range rows {
		if _, dup := by[r.Setting]; dup {
			t.Errorf("setting %s twice", r.Setting)
		}
		by[r.Setting] = r
	}
	return by
}

// testProperties is the broker configuration of the fake host,
// testdata/server.properties.
func testProperties(t *testing.T) map[string]string {
	t.Helper()
	props, err := ReadProperties("testdata/server.properties")
	if err != nil {
		t.Fatal(err)
	}
	return props
}

func TestCheckReadsAFakeHost(t *testing.T) {
	props := testProperties(t)
	rows := fakeHost(t, Config{LogDirs: LogDirsOf(props), Properties: props})
	for _, want := range []Row{
		{Setting: "vm.swappiness", Current: "1", Status: Pass},
		{Setting: "vm.dirty_ratio", Current: "20", Status: Warn},
		{Setting: "net.core.wmem_max", Current: "212992", Status: Warn},
		{Setting: "net.core.rmem_max", Current: "16777216", Status: Pass},
		{Setting: "net.ipv4.tcp_wmem", Current: "4096 16384 4194304", Status: Info},
		{Setting: "transparent hugepages", Current: "madvise", Status: Info},
		{Setting: "swap", Current: "/dev/zram0 (partition, 1023 MiB)", Status: Info},
		{Setting: "CPU frequency governor", Current: "powersave", Status: Info},
		{Setting: "clocksource", Current: "tsc (available: tsc hpet acpi_pm)", Status: Info},
		{Setting: "open files limit", Current: "1048576 (this process)", Status: Pass},
		{Setting: "log dir filesystem", Current: "xfs", Status: Pass},
		{Setting: "log dir mount options", Current: "rw,noatime", Status: Pass},
		{Setting: "log dir I/O scheduler", Current: "none", Status: Info},
	} {
		got, ok := rows[want.Setting]
		if !ok {
			t.Errorf("no row for %s", want.Setting)
			continue
		}
		if got.Current != want.Current || got.Status != want.Status {
			t.Errorf("%s: current %q status %s, want %q %s", want.Setting, got.Current, got.Status, want.Current, want.Status)
		}
	}
	if r := rows["vm.dirty_ratio"]; r.Advised != "60-80" || !strings.HasPrefix(r.Source, "seed §6") {
		t.Errorf("dirty ratio advice: %+v, want the seed's 60-80", r)
	}
	// The kernel of the fake host has no fs.nr_open-like key the lab asks
	// for beyond these: a missing sysctl is N/A, not an error of the run.
	if r := rows["vm.dirty_background_ratio"]; r.Status != Info || r.Current != "10" {
		t.Errorf("dirty_background_ratio: %+v", r)
	}
}

// A lab run's Apply files replace the seed's advice where they speak
// about the same setting, and add server.properties checks.
func TestCheckTakesAdviceFromARunsApplyFiles(t *testing.T) {
	adv, err := FromApply("testdata/run")
	if err != nil {
		t.Fatal(err)
	}
	props := testProperties(t)
	rows := fakeHost(t, Config{LogDirs: LogDirsOf(props), Properties: props, Advice: adv})
	r := rows["vm.dirty_ratio"]
	if r.Advised != "60" || r.Status != Warn || !strings.Contains(r.Source, "lab run run: finding: dirty = seed-60 vs default") || !strings.Contains(r.Source, "95% CI -32.0% to -28.1%") {
		t.Errorf("dirty ratio from the run: %+v", r)
	}
	r = rows["server.properties log.segment.bytes"]
	if r.Current != "1073741824" || r.Advised != "268435456" || r.Status != Warn {
		t.Errorf("server.properties row: %+v", r)
	}
	if r := rows["vm.swappiness"]; !strings.HasPrefix(r.Source, "seed §6") {
		t.Errorf("swappiness lost the seed's advice: %+v", r)
	}
}

func TestCheckSaysWhatItCannotRead(t *testing.T) {
	rows := fakeHost(t, Config{LogDirs: []string{"/nowhere/in/this/tree"}, PID: 99999})
	if r := rows["open files limit"]; r.Status != Unknown || !strings.HasPrefix(r.Current, "unreadable: ") {
		t.Errorf("a missing pid: %+v, want N/A with the reason", r)
	}
	// "/" holds every path: the log dir is on the root mount, whose
	// device has no queue in the fake /sys.
	if r := rows["log dir I/O scheduler"]; r.Status != Unknown {
		t.Errorf("scheduler of a disk without a queue: %+v", r)
	}
	if _, err := Run(Config{ProcRoot: "testdata/none"}); err == nil {
		t.Error("a missing proc root: no error")
	}
}
