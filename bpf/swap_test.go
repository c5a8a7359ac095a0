package bpf

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brokerlab/brokerlab/internal/testutil"
	"github.com/brokerlab/brokerlab/procsample"
	"golang.org/x/sys/unix"
)

const (
	swapChildEnv  = "BROKERLAB_BPF_SWAP_CHILD" // the memcg directory the child joins
	swapLimit     = 64 << 20                   // the memcg's memory limit
	swapTouch     = 160 << 20                  // what the child touches: 2.5x the limit
	zramDiskBytes = 512 << 20
)

// swapChild touches more anonymous memory than the limit allows (pushing
// pages to swap), then reads it all again (swapping back in); in the
// cgroup: inCgroup.
func swapChild() error {
	mem, err := unix.Mmap(-1, 0, swapTouch, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	page := os.Getpagesize()
	for i := 0; i < len(mem); i += page {
		mem[i] = byte(i/page) | 1 // not zero: zram would store a zero page specially
		mem[i+1] = byte(i >> 20)
	}
	var sum uint64
	for i := 0; i < len(mem); i += page {
		sum += uint64(mem[i])
	}
	fmt.Println(sum)
	return nil
}

// writeFile writes a sysfs/cgroupfs attribute.
func writeFile(t testing.TB, path, value string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		t.Fatalf("writing %q to %s: %v", value, path, err)
	}
}

// zramSwap makes a zram swap device and removes it at cleanup: swapoff,
// reset, hot_remove (in reverse order of setup).
func zramSwap(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/sys/class/zram-control/hot_add"); err != nil {
		testutil.Unavailable(t, "zram is not available (modprobe zram): %v", err)
	}
	mkswap := testutil.RequireCommand(t, "mkswap", "apt-get install util-linux")
	swapon := testutil.RequireCommand(t, "swapon", "apt-get install util-linux")
	swapoff := testutil.RequireCommand(t, "swapoff", "apt-get install util-linux")
	b, err := os.ReadFile("/sys/class/zram-control/hot_add")
	if err != nil {
		t.Fatalf("adding a zram device: %v", err)
	}
	id := strings.TrimSpace(string(b))
	dev := "/dev/zram" + id
	sys := "/sys/block/zram" + id
	t.Cleanup(func() {
		if err := os.WriteFile("/sys/class/zram-control/hot_remove", []byte(id), 0o644); err != nil {
			t.Errorf("removing zram%s: %v", id, err)
		}
	})
	writeFile(t, sys+"/disksize", strconv.Itoa(zramDiskBytes))
	t.Cleanup(func() {
		if err := os.WriteFile(sys+"/reset", []byte("1"), 0o644); err != nil {
			t.Errorf("resetting zram%s: %v", id, err)
		}
	})
	testutil.WaitFor(t, 5*time.Second, func() error {
		_, err := os.Stat(dev)
		return err
	})
	if out, err := exec.Command(mkswap, dev).CombinedOutput(); err != nil {
		t.Fatalf("mkswap %s: %v\n%s", dev, err, out)
	}
	if out, err := exec.Command(swapon, "-p", "32000", dev).CombinedOutput(); err != nil {
		t.Fatalf("swapon %s: %v\n%s", dev, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(swapoff, dev).CombinedOutput(); err != nil {
			t.Errorf("swapoff %s: %v\n%s", dev, err, out)
		}
	})
	return dev
}

// memcgV1 makes a cgroup v1 memory cgroup with a limit and removes it at
// cleanup (once its tasks are gone).
func memcgV1(t *testing.T, limit int) string {
	t.Helper()
	dir := tempCgroup(t, "/sys/fs/cgroup/memory", "memory.limit_in_bytes")
	writeFile(t, filepath.Join(dir, "memory.limit_in_bytes"), strconv.Itoa(limit))
	writeFile(t, filepath.Join(dir, "memory.swappiness"), "100")
	return dir
}

func TestSwapInCountMatchesVMStat(t *testing.T) {
	testutil.RequirePrivileged(t, "loading eBPF programs, zram swap and a memory cgroup")
	zramSwap(t)
	cg := memcgV1(t, swapLimit)
	p := newTestProbes(t, Config{Families: []Family{FamilySwap}, Cgroup: cg})

	before := snapshot(t, p)
	vmBefore, err := procsample.ReadVMStat("/proc")
	if err != nil {
		t.Fatal(err)
	}
	runChild(t, swapChildEnv, cg, "swap")
	vmAfter, err := procsample.ReadVMStat("/proc")
	if err != nil {
		t.Fatal(err)
	}
	w := snapshot(t, p).Delta(before)
	vm := vmAfter.Delta(vmBefore)

	in, out := w.Value(FamilySwap, "swapin_pages"), w.Value(FamilySwap, "swapout_pages")
	h, _ := w.Histogram(FamilySwap, "swapin_latency")
	t.Logf("bpf: swap-in %d pages in %d faults (mean %v, p99<=%v), swap-out %d pages; /proc/vmstat: pswpin %d, pswpout %d",
		in, w.Value(FamilySwap, "swapin_faults"), time.Duration(h.Mean()), time.Duration(h.Quantile(0.99)), out, vm.PswpIn, vm.PswpOut)
	if vm.PswpIn == 0 {
		t.Fatalf("the child caused no swap-ins (pswpout %d): the test did not exercise swap", vm.PswpOut)
	}
	if in != vm.PswpIn {
		t.Errorf("bpf swap-in pages %d != /proc/vmstat pswpin delta %d", in, vm.PswpIn)
	}
	if out != vm.PswpOut {
		t.Errorf("bpf swap-out pages %d != /proc/vmstat pswpout delta %d", out, vm.PswpOut)
	}
	if h.Count == 0 || h.Count > in {
		t.Errorf("swap-in latency histogram holds %d faults for %d pages", h.Count, in)
	}
	id, _, err := resolveCgroup(cg)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := w.Counter(FamilySwap, "memcg_swapout_pages", "memcg="+strconv.FormatUint(id, 10))
	if !ok || c.Value != out {
		t.Errorf("per-memcg swap-outs for %s = %+v, want %d", cg, c, out)
	}
}
