package procsample

import (
	"fmt"
	"os"

	"github.com/prometheus/procfs"
)

// Process holds one process's memory and fault figures from
// /proc/<pid>/stat and /proc/<pid>/status.
type Process struct {
	PID      int    `json:"pid"`
	Comm     string `json:"comm"`
	RSS      uint64 `json:"rss_bytes"`     // VmRSS
	VmSwap   uint64 `json:"vm_swap_bytes"` // swapped-out anonymous memory
	MinFlt   uint64 `json:"minflt"`
	MajFlt   uint64 `json:"majflt"` // faults that needed I/O, swap-ins among them
	NumThrds int    `json:"threads"`
	// CPUSeconds is user plus system time (utime+stime, in USER_HZ ticks
	// converted by procfs), a counter.
	CPUSeconds float64 `json:"cpu_seconds,omitempty"`
}

// ReadProcess reads procRoot/<pid>/stat and status with procfs.
func ReadProcess(procRoot string, pid int) (Process, error) {
	fs, err := procfs.NewFS(procRoot)
	if err != nil {
		return Process{}, fmt.Errorf("opening procfs %s: %w", procRoot, err)
	}
	p, err := fs.Proc(pid)
	if err != nil {
		return Process{}, fmt.Errorf("process %d: %w", pid, err)
	}
	st, err := p.Stat()
	if err != nil {
		return Process{}, fmt.Errorf("reading stat of process %d: %w", pid, err)
	}
	status, err := p.NewStatus()
	if err != nil {
		return Process{}, fmt.Errorf("reading status of process %d: %w", pid, err)
	}
	return processFrom(st, status), nil
}

func processFrom(st procfs.ProcStat, status procfs.ProcStatus) Process {
	rss := status.VmRSS
	if rss == 0 && st.RSS > 0 {
		rss = uint64(st.RSS) * uint64(os.Getpagesize())
	}
	return Process{
		PID: st.PID, Comm: st.Comm, RSS: rss, VmSwap: status.VmSwap,
		MinFlt: uint64(st.MinFlt), MajFlt: uint64(st.MajFlt), NumThrds: st.NumThreads, CPUSeconds: st.CPUTime(),
	}
}

// Delta subtracts prev's fault and CPU counters; RSS and VmSwap are gauges.
func (p Process) Delta(prev Process) Process {
	p.MinFlt = sub(p.MinFlt, prev.MinFlt)
	p.MajFlt = sub(p.MajFlt, prev.MajFlt)
	p.CPUSeconds -= prev.CPUSeconds
	return p
}
