package bench

import (
	"os"
	"strings"
	"testing"

	"github.com/brokerlab/brokerlab/bpf"
	"golang.org/x/sys/unix"
)

// TestReadUsage reads this process's CPU from /proc after burning some,
// and its context switches after its thread blocked in the kernel.
func TestReadUsage(t *testing.T) {
	u0, err := readUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for i := range 50_000_000 {
		x += i % 7
	}
	// nanosleep(2) takes this thread off the CPU: a voluntary switch.
	if err := unix.Nanosleep(&unix.Timespec{Nsec: 1000}, nil); err != nil {
		t.Fatal(err)
	}
	u1, err := readUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u1.CPUSeconds <= u0.CPUSeconds || x == 0 {
		t.Errorf("process CPU %v s after a busy loop, %v before", u1.CPUSeconds, u0.CPUSeconds)
	}
	if u1.voluntary <= u0.voluntary {
		t.Errorf("voluntary context switches %d after a nanosleep, %d before", u1.voluntary, u0.voluntary)
	}
}

// TestWriteTable checks the medians, the spread and the syscall table.
func TestWriteTable(t *testing.T) {
	pass := func(label string, round int, cpu, reqs float64, reads uint64) RequestsPass {
		return RequestsPass{Label: label, Round: round, CPUSeconds: cpu, SystemSeconds: cpu / 2, Voluntary: 3 * reqs, Involuntary: reqs / 2, TotalRequests: reqs, AppendedBytes: 1e9,
			Requests: map[string]float64{"Produce": reqs}, Syscalls: []bpf.SyscallCount{{Name: "read", Count: reads}},
			PublishP99Us: int64(1000 * cpu)}
	}
	var b strings.Builder
	WriteRequestsTable(&b, []RequestsPass{pass("a", 0, 6, 1000, 2000), pass("b", 0, 4, 1000, 1000), pass("b", 1, 5, 1000, 1000), pass("a", 1, 7, 1000, 3000), pass("a", 2, 8, 1000, 2000)})
	out := b.String()
	for _, want := range []string{
		"a        cpu_s/GB 7.00 [6.00-8.00]  us/req 7000.0 [6000.0-8000.0]  cs/req 3.50 [3.50-3.50]",
		"6.00    50      1000", // cpu_s, sys%, requests of a's first pass
		"b        cpu_s/GB 4.50 [4.00-5.00]",
		"read                   2.00       1.00",
		"   1000000 ", // bytes per Produce request
		// Rounds 1 and 2 have both builds: b/a = 4/6 and 5/7; round 3 only a.
		"ratio b/a over 2 rounds: cpu_s/GB 0.69 [0.67-0.71]  us/req 0.69 [0.67-0.71]  publish_p99 0.69 [0.67-0.71]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table has no %q:\n%s", want, out)
		}
	}
}
