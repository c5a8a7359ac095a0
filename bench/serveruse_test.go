package bench

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/brokerlab/brokerlab/procsample"
)

// writeProc writes a /proc/<pid>/stat and status with the given CPU ticks
// (USER_HZ, 100 on Linux) and VmHWM, in the kernel's own format.
func writeProc(t *testing.T, utime, stime, hwmKiB int) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "4242")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stat := fmt.Sprintf("4242 (broker) S 1 4242 4242 0 -1 4194304 128 0 0 0 %d %d 0 0 20 0 9 0 94435 4136960 548 "+
		"18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n", utime, stime)
	status := fmt.Sprintf("Name:\tbroker\nPid:\t4242\nVmHWM:\t%8d kB\nVmRSS:\t    2048 kB\nVmSwap:\t       0 kB\nThreads:\t9\n", hwmKiB)
	for name, body := range map[string]string{"stat": stat, "status": status} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestCPUPerGBFromTwoStatSamples(t *testing.T) {
	before, err := procsample.ReadProcess(writeProc(t, 150, 50, 2048), 4242)
	if err != nil {
		t.Fatal(err)
	}
	// 1.75 s user and 0.35 s system later, having moved 500,000 records of
	// 1 KiB: 2.1 s over 0.512 GB.
	after, err := procsample.ReadProcess(writeProc(t, 325, 85, 65536), 4242)
	if err != nil {
		t.Fatal(err)
	}
	u := UseBetween(before, after, 500_000*1024, 500_000)
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"user seconds", u.UserSeconds, 1.75},
		{"system seconds", u.SystemSeconds, 0.35},
		{"CPU s/GB", u.CPUPerGB(), 2.1 / 0.512},
		{"user s/GB", u.UserPerGB(), 1.75 / 0.512},
		{"system s/GB", u.SystemPerGB(), 0.35 / 0.512},
		{"CPU s per million records", u.CPUPerMRecords(), 2.1 / 0.5},
	} {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if u.PeakRSS != 65536<<10 {
		t.Errorf("peak RSS = %d, want the later VmHWM %d", u.PeakRSS, 65536<<10)
	}
	if got := (ServerUse{UserSeconds: 1}).CPUPerGB(); got != 0 {
		t.Errorf("CPU/GB with no bytes moved = %v, want 0", got)
	}
}

func TestMeterResetsThePeakOfItsOwnChild(t *testing.T) {
	m, err := startMeter(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.peakSinceStart {
		t.Skip("this kernel or user cannot reset VmHWM through clear_refs")
	}
	u, err := m.stop(1e9, 1e6)
	if err != nil {
		t.Fatal(err)
	}
	if u.PeakRSS == 0 || u.CPUSeconds() < 0 {
		t.Errorf("use of the test process = %+v, want a peak RSS and non-negative CPU", u)
	}
}
