package bpf

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/brokerlab/brokerlab/internal/testutil"
)

// TestSyscallCounter makes a known number of getppid(2) calls on one
// thread and checks the counter saw them, and that the same calls on the
// excluded thread are not counted.
func TestSyscallCounter(t *testing.T) {
	testutil.RequirePrivileged(t, "loading eBPF programs")
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const calls = 1000
	count := func(exclude uint32) uint64 {
		c, err := NewSyscallCounter(uint32(os.Getpid()), exclude)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for range calls {
			unix.Getppid()
		}
		got, err := c.Counts()
		if err != nil {
			t.Fatal(err)
		}
		return got[unix.SYS_GETPPID]
	}
	if got := count(0); got != calls {
		t.Errorf("counted %d getppid calls, want %d", got, calls)
	}
	if got := count(uint32(unix.Gettid())); got != 0 {
		t.Errorf("counted %d getppid calls of the excluded thread, want 0", got)
	}
}
