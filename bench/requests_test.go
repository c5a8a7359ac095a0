package bench

import (
	"os"
	"strings"
	"testing"

	"github.com/brokerlab/brokerlab/bpf"
)

// TestProcessCPU reads this process's CPU from /proc after burning some.
func TestProcessCPU(t *testing.T) {
	x := 0
	for i := range 50_000_000 {
		x += i % 7
	}
	cpu, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if cpu <= 0 || x == 0 {
		t.Errorf("process CPU %v s after a busy loop", cpu)
	}
}

// TestWriteTable checks the medians, the spread and the syscall table.
func TestWriteTable(t *testing.T) {
	pass := func(label string, round int, cpu, reqs float64, reads uint64) RequestsPass {
		return RequestsPass{Label: label, Round: round, CPUSeconds: cpu, TotalRequests: reqs, AppendedBytes: 1e9,
			Requests: map[string]float64{"Produce": reqs}, Syscalls: []bpf.SyscallCount{{Name: "read", Count: reads}},
			PublishP99Us: int64(1000 * cpu)}
	}
	var b strings.Builder
	WriteRequestsTable(&b, []RequestsPass{pass("a", 0, 6, 1000, 2000), pass("b", 0, 4, 1000, 1000), pass("b", 1, 5, 1000, 1000), pass("a", 1, 7, 1000, 3000), pass("a", 2, 8, 1000, 2000)})
	out := b.String()
	for _, want := range []string{
		"a        cpu_s/GB 7.00 [6.00-8.00]  us/req 7000.0 [6000.0-8000.0]",
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
