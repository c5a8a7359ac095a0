package procsample

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCPUModel(t *testing.T) {
	got := ParseCPUModel([]byte("processor\t: 0\nmodel name\t: Test CPU @ 1GHz\nprocessor\t: 1\nmodel name\t: other\n"))
	if got != "Test CPU @ 1GHz" {
		t.Errorf("model = %q", got)
	}
	if got := ParseCPUModel([]byte("processor\t: 0\nBogoMIPS\t: 50.00\n")); got != "" {
		t.Errorf("arm64-style cpuinfo: model = %q, want empty", got)
	}
}

func TestReadEnvironmentFromTestdata(t *testing.T) {
	e, err := ReadEnvironment(EnvConfig{ProcRoot: "testdata/proc", SysRoot: "testdata/sys", ModulesRoot: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// The tree has no block devices, no config.gz and no modules.
	if e.Host == nil || len(e.Host.Disks) != 0 || e.Host.Netem != "unknown" {
		t.Errorf("host caps %+v, want no disk and sch_netem unknown", e.Host)
	}
	if e.CPUModel != "Intel(R) Xeon(R) CPU @ 2.20GHz" || e.MemTotalBytes != 24683620*1024 || e.THP != "madvise" {
		t.Errorf("cpu %q, memory %d, thp %q", e.CPUModel, e.MemTotalBytes, e.THP)
	}
	want := map[string]string{"vm.swappiness": "1", "vm.dirty_ratio": "20", "net.ipv4.tcp_rmem": "4096 131072 6291456"}
	if diff := cmp.Diff(want, e.Sysctls); diff != "" {
		t.Errorf("sysctls (-want +got):\n%s", diff)
	}
	if e.Build.GoVersion == "" || e.Kernel == "" {
		t.Errorf("build %+v, kernel %q", e.Build, e.Kernel)
	}
	if s, err := ReadScheduler("testdata/sys", "8:0"); err != nil || s != "mq-deadline" {
		t.Errorf("scheduler of 8:0 = %q, %v", s, err)
	}
	if _, err := ReadScheduler("testdata/sys", "9:9"); err == nil {
		t.Error("scheduler of a missing device: no error")
	}
}

func TestReadEnvironmentOfThisHostDir(t *testing.T) {
	e, err := ReadEnvironment(EnvConfig{Dir: t.TempDir()})
	if e.FSType == "" || e.MountPoint == "" {
		t.Errorf("log dir not described: %+v (%v)", e, err)
	}
}

// TestEnvironmentDecodesOldRunFiles: tuning run files written before the
// one environment type said "cpu" and "memory_mib".
func TestEnvironmentDecodesOldRunFiles(t *testing.T) {
	var e Environment
	if err := json.Unmarshal([]byte(`{"kernel":"6.1","cpu":"Old CPU","cpus":2,"memory_mib":1024,"disk":"loop","filesystem":"xfs","workload":"w","go_version":"go1.26"}`), &e); err != nil {
		t.Fatal(err)
	}
	want := Environment{Kernel: "6.1", CPUModel: "Old CPU", CPUs: 2, MemTotalBytes: 1 << 30, Disk: "loop", Filesystem: "xfs", Workload: "w", GoVersion: "go1.26"}
	if diff := cmp.Diff(want, e); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var back Environment
	if err := json.Unmarshal(b, &back); err != nil || !cmp.Equal(want, back) {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}

func TestParseVCS(t *testing.T) {
	c, m := parseVCS(nil)
	if c != "" || m {
		t.Errorf("no settings: %q %v", c, m)
	}
}
