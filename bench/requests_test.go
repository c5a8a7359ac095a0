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
	pass := func(label string, cpu, reqs float64, reads uint64) RequestsPass {
		return RequestsPass{Label: label, CPUSeconds: cpu, TotalRequests: reqs, AppendedBytes: 1e9,
			Requests: map[string]float64{"Produce": reqs}, Syscalls: []bpf.SyscallCount{{Name: "read", Count: reads}}}
	}
	var b strings.Builder
	WriteRequestsTable(&b, []RequestsPass{pass("a", 6, 1000, 2000), pass("b", 4, 1000, 1000), pass("b", 5, 1000, 1000), pass("a", 7, 1000, 3000), pass("a", 8, 1000, 2000)})
	out := b.String()
	for _, want := range []string{
		"a        cpu_s/GB 7.00 [6.00-8.00]  us/req 7000.0 [6000.0-8000.0]",
		"b        cpu_s/GB 4.50 [4.00-5.00]",
		"read                   2.00       1.00",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table has no %q:\n%s", want, out)
		}
	}
}
