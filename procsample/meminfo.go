package procsample

import "github.com/prometheus/procfs"

// MemInfo holds the /proc/meminfo gauges about the page cache, in bytes.
type MemInfo struct {
	// MemTotal is the machine's memory (recorded by ReadEnvironment).
	MemTotal   uint64 `json:"mem_total_bytes,omitempty"`
	Cached     uint64 `json:"cached_bytes"`
	Dirty      uint64 `json:"dirty_bytes"`
	Writeback  uint64 `json:"writeback_bytes"`
	SwapCached uint64 `json:"swap_cached_bytes"`
	SwapTotal  uint64 `json:"swap_total_bytes"`
	SwapFree   uint64 `json:"swap_free_bytes"`
}

// ReadMemInfo reads procRoot/meminfo with procfs.
func ReadMemInfo(procRoot string) (MemInfo, error) {
	m, err := readProcFS(procRoot, "reading meminfo", procfs.FS.Meminfo)
	if err != nil {
		return MemInfo{}, err
	}
	return memInfoFrom(m), nil
}

// memInfoFrom picks the fields the lab needs (absent fields read as 0).
func memInfoFrom(m procfs.Meminfo) MemInfo {
	v := func(p *uint64) uint64 {
		if p == nil {
			return 0
		}
		return *p
	}
	return MemInfo{
		MemTotal: v(m.MemTotalBytes),
		Cached:   v(m.CachedBytes), Dirty: v(m.DirtyBytes), Writeback: v(m.WritebackBytes),
		SwapCached: v(m.SwapCachedBytes), SwapTotal: v(m.SwapTotalBytes), SwapFree: v(m.SwapFreeBytes),
	}
}
