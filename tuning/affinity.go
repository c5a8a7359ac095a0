package tuning

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// Pinning is what a run got of its plan's Affinity, recorded in its run
// file: the CPUs the broker's and the lab's threads were held to, or why
// they were not.
type Pinning struct {
	Broker []int `json:"broker_cpus,omitempty"`
	Load   []int `json:"load_cpus,omitempty"`
	// Method is "sched_setaffinity" when pinned.
	Method string `json:"method,omitempty"`
	// NotPinned says why the run was not pinned ("" when it was).
	NotPinned string `json:"not_pinned,omitempty"`
}

// allowedCPUs is the lab's own affinity mask: a cpuset cgroup or a taskset
// the lab runs under narrows it.
func allowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("reading the lab's CPU affinity: %w", err)
	}
	var out []int
	for c := range 1024 {
		if set.IsSet(c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// checkAffinity says why a plan's Affinity cannot be had here ("" = it
// can): each CPU it names must be one the lab may run on.
func checkAffinity(a *Affinity) string {
	allowed, err := allowedCPUs()
	if err != nil {
		return err.Error()
	}
	for _, c := range slices.Concat(a.Broker, a.Load) {
		if !slices.Contains(allowed, c) {
			return fmt.Sprintf("CPU %d is not among the CPUs this process may use (%v)", c, allowed)
		}
	}
	return ""
}

// pinTasks sets the affinity of every thread of process pid to cpus. A
// thread inherits its creator's mask, so once every thread is pinned new
// ones are too; a pass that finds a thread it has not seen repeats, for a
// thread created by one not yet pinned.
func pinTasks(pid int, cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	done := map[int]bool{}
	for range 10 {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("listing the threads of %d: %w", pid, err)
		}
		fresh := false
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || done[tid] {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("pinning thread %d of %d to CPUs %v: %w", tid, pid, cpus, err)
			}
			done[tid], fresh = true, true
		}
		if !fresh {
			return nil
		}
	}
	return nil
}
