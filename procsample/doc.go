// Package procsample reads the kernel's own counters from /proc for the
// questions the eBPF probes answer, so every run has numbers even where BPF
// is unavailable and every BPF reading has a cross-check:
//
//   - /proc/vmstat: pswpin, pswpout, pgmajfault, pgfault, pgpgin, pgpgout
//   - /proc/meminfo: Cached, Dirty, Writeback, SwapCached
//   - /proc/diskstats: one device's completed I/Os, sectors and busy time
//   - /proc/<pid>/stat and status: RSS, VmSwap, minor and major faults
//   - /proc/net/sockstat: TCP sockets in use and their memory
//   - /proc/net/snmp: TCP segments in and out, retransmits
//
// Each source has its own file with reading split from parsing, so parsers
// are tested on bytes and the roots (ProcRoot, SysRoot) are injectable for
// tests on testdata/. The structured sources are parsed with
// github.com/prometheus/procfs.
//
// Example:
//
//	s, err := procsample.New(procsample.Config{PID: brokerPID, Device: "8:0"})
//	if err != nil {
//		return err
//	}
//	prev, _ := s.Sample()
//	// ... one window later
//	cur, _ := s.Sample()
//	w := cur.Delta(prev) // w.VMStat.PswpIn is the window's swap-ins
package procsample
