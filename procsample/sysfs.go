package procsample

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/brokerlab/brokerlab/internal/bytesize"
)

// ParseBracketed reads a sysfs choice file, "none [mq-deadline] kyber" or
// "always [madvise] never": the active choice (in brackets) and every
// offered one.
func ParseBracketed(text string) (active string, offered []string) {
	for _, f := range strings.Fields(text) {
		if strings.HasPrefix(f, "[") && strings.HasSuffix(f, "]") {
			f = strings.Trim(f, "[]")
			active = f
		}
		offered = append(offered, f)
	}
	return active, offered
}

// ReadScheduler returns the active I/O scheduler of the disk holding block
// device dev ("maj:min"): sysRoot/dev/block/<dev>/queue/scheduler, or its
// parent disk's for a partition.
func ReadScheduler(sysRoot, dev string) (string, error) {
	base := filepath.Join(sysRoot, "dev", "block", dev)
	for _, p := range []string{filepath.Join(base, "queue", "scheduler"), filepath.Join(base, "..", "queue", "scheduler")} {
		if b, err := os.ReadFile(p); err == nil {
			a, _ := ParseBracketed(string(b))
			return a, nil
		}
	}
	return "", fmt.Errorf("reading the I/O scheduler of block device %s: no queue/scheduler under %s", dev, base)
}

// ReadTHP returns the transparent huge page mode (always, madvise, never)
// from sysRoot/kernel/mm/transparent_hugepage/enabled.
func ReadTHP(sysRoot string) (string, error) {
	b, err := os.ReadFile(filepath.Join(sysRoot, "kernel", "mm", "transparent_hugepage", "enabled"))
	if err != nil {
		return "", fmt.Errorf("reading transparent_hugepage: %w", err)
	}
	a, _ := ParseBracketed(string(b))
	return a, nil
}

// KnownSysctls are the sysctls the lab sweeps or whose value changes what
// it measures (DESIGN.md "The lab"); every environment records them.
var KnownSysctls = []string{
	"vm.swappiness", "vm.dirty_ratio", "vm.dirty_background_ratio", "vm.dirty_expire_centisecs",
	"vm.dirty_writeback_centisecs", "vm.dirty_bytes", "vm.dirty_background_bytes",
	"net.core.rmem_default", "net.core.wmem_default", "net.core.rmem_max", "net.core.wmem_max",
	"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
}

// ReadSysctls reads each dotted key under procRoot/sys, whitespace folded;
// a key the kernel lacks is left out.
func ReadSysctls(procRoot string, keys []string) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		b, err := os.ReadFile(filepath.Join(procRoot, "sys", strings.ReplaceAll(k, ".", "/")))
		if err == nil {
			out[k] = strings.Join(strings.Fields(string(b)), " ")
		}
	}
	return out
}

// ReadLargestCPUCache returns the size in bytes of the largest cache of CPU
// 0 (on most machines its last-level cache) from
// sysRoot/devices/system/cpu/cpu0/cache/index*/size.
func ReadLargestCPUCache(sysRoot string) (int64, error) {
	dirs, err := filepath.Glob(filepath.Join(sysRoot, "devices", "system", "cpu", "cpu0", "cache", "index*"))
	if err != nil || len(dirs) == 0 {
		return 0, fmt.Errorf("reading CPU caches: no %s", filepath.Join(sysRoot, "devices/system/cpu/cpu0/cache/index*"))
	}
	var largest int64
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "size"))
		if err != nil {
			return 0, fmt.Errorf("reading CPU cache size: %w", err)
		}
		n, err := ParseCacheSize(string(b))
		if err != nil {
			return 0, fmt.Errorf("%s: %w", filepath.Join(d, "size"), err)
		}
		largest = max(largest, n)
	}
	return largest, nil
}

// ParseCacheSize parses a sysfs cache size: "48K", "2048K", "32M".
func ParseCacheSize(s string) (int64, error) { return bytesize.Parse(s) }
