package procsample

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

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
	// converted by procfs), a counter; UserSeconds and SystemSeconds are
	// its two parts.
	CPUSeconds    float64 `json:"cpu_seconds,omitempty"`
	UserSeconds   float64 `json:"user_seconds,omitempty"`
	SystemSeconds float64 `json:"system_seconds,omitempty"`
	// PeakRSS is the resident set's high-water mark (VmHWM), a gauge that
	// only grows until it is reset (ResetPeakRSS).
	PeakRSS uint64 `json:"peak_rss_bytes,omitempty"`
}

// ReadProcess reads procRoot/<pid>/stat and status with procfs.
func ReadProcess(procRoot string, pid int) (Process, error) {
	p, err := proc(procRoot, pid)
	if err != nil {
		return Process{}, err
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

// ReadStartTime reads when process pid started (field 22 of
// procRoot/<pid>/stat, clock ticks since boot) and whether it is a zombie
// (state Z or X) with procfs. With the pid, the start time names one
// process even after the pid is reused.
func ReadStartTime(procRoot string, pid int) (start uint64, zombie bool, err error) {
	p, err := proc(procRoot, pid)
	if err != nil {
		return 0, false, err
	}
	st, err := p.Stat()
	if err != nil {
		return 0, false, fmt.Errorf("reading stat of process %d: %w", pid, err)
	}
	return st.Starttime, st.State == "Z" || st.State == "X", nil
}

// ReadIOCalls reads the read and write system calls process pid has made
// (syscr and syscw of procRoot/<pid>/io, counters) with procfs. Another
// user's process needs the right to ptrace it.
func ReadIOCalls(procRoot string, pid int) (reads, writes uint64, err error) {
	p, err := proc(procRoot, pid)
	if err != nil {
		return 0, 0, err
	}
	io, err := p.IO()
	if err != nil {
		return 0, 0, fmt.Errorf("reading I/O counters of process %d: %w", pid, err)
	}
	return io.SyscR, io.SyscW, nil
}

// ReadContextSwitches reads the context switches of process pid, summed
// over its threads (voluntary_ctxt_switches and nonvoluntary_ctxt_switches
// of procRoot/<pid>/task/*/status) with procfs: a voluntary switch is a
// thread that blocked (a read that found no data, a futex wait, a sleep),
// an involuntary one a thread that was preempted. The sum covers the
// threads alive now; a thread that has exited takes its counts with it (a
// Go process keeps its threads).
func ReadContextSwitches(procRoot string, pid int) (voluntary, involuntary uint64, err error) {
	threads, err := readProcFS(procRoot, fmt.Sprintf("threads of process %d", pid), func(pfs procfs.FS) (procfs.Procs, error) { return pfs.AllThreads(pid) })
	if err != nil {
		return 0, 0, err
	}
	for _, t := range threads {
		st, err := t.NewStatus()
		if errors.Is(err, fs.ErrNotExist) {
			continue // the thread exited while we read
		}
		if err != nil {
			return 0, 0, fmt.Errorf("reading status of thread %d of process %d: %w", t.PID, pid, err)
		}
		voluntary += st.VoluntaryCtxtSwitches
		involuntary += st.NonVoluntaryCtxtSwitches
	}
	return voluntary, involuntary, nil
}

// proc opens process pid in the procfs at procRoot.
func proc(procRoot string, pid int) (procfs.Proc, error) {
	return readProcFS(procRoot, fmt.Sprintf("process %d", pid), func(pfs procfs.FS) (procfs.Proc, error) { return pfs.Proc(pid) })
}

// readProcFS opens the procfs at procRoot and reads from it with read,
// whose error it wraps with what.
func readProcFS[T any](procRoot, what string, read func(procfs.FS) (T, error)) (T, error) {
	var zero T
	pfs, err := procfs.NewFS(procRoot)
	if err != nil {
		return zero, fmt.Errorf("opening procfs %s: %w", procRoot, err)
	}
	v, err := read(pfs)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}

func processFrom(st procfs.ProcStat, status procfs.ProcStatus) Process {
	rss := status.VmRSS
	if rss == 0 && st.RSS > 0 {
		rss = uint64(st.RSS) * uint64(os.Getpagesize())
	}
	p := Process{
		PID: st.PID, Comm: st.Comm, RSS: rss, VmSwap: status.VmSwap, PeakRSS: status.VmHWM,
		MinFlt: uint64(st.MinFlt), MajFlt: uint64(st.MajFlt), NumThrds: st.NumThreads, CPUSeconds: st.CPUTime(),
	}
	// procfs converts the sum of ticks; split it in their proportion rather
	// than repeat its USER_HZ.
	if ticks := st.UTime + st.STime; ticks > 0 {
		p.UserSeconds = p.CPUSeconds * float64(st.UTime) / float64(ticks)
		p.SystemSeconds = p.CPUSeconds - p.UserSeconds
	}
	return p
}

// ResetPeakRSS sets the process's resident-set high-water mark (VmHWM) to
// its current RSS by writing 5 to procRoot/<pid>/clear_refs
// (Documentation/filesystems/proc.rst, "clear_refs"), so that PeakRSS read
// later covers only what happened since. It needs the right to write the
// process's files (the same user, or root).
func ResetPeakRSS(procRoot string, pid int) error {
	path := filepath.Join(procRoot, strconv.Itoa(pid), "clear_refs")
	if err := os.WriteFile(path, []byte("5"), 0); err != nil {
		return fmt.Errorf("resetting peak RSS of process %d: %w", pid, err)
	}
	return nil
}

// Delta subtracts prev's fault and CPU counters; RSS, VmSwap and PeakRSS
// are gauges.
func (p Process) Delta(prev Process) Process {
	p.MinFlt = sub(p.MinFlt, prev.MinFlt)
	p.MajFlt = sub(p.MajFlt, prev.MajFlt)
	p.CPUSeconds -= prev.CPUSeconds
	p.UserSeconds -= prev.UserSeconds
	p.SystemSeconds -= prev.SystemSeconds
	return p
}
