package bpf

import (
	"errors"
	"fmt"
	"sort"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// SyscallCounter counts the syscalls of one process by syscall number
// (c/syscalls.bpf.c, tp_btf/sys_enter: the raw_syscalls:sys_enter event).
// It is not one of the probe families: it answers "how many syscalls per
// request, of which kind" for the broker's request benchmarks and the
// held-rate bench, and puts every syscall of the process on the traced path
// while it runs (tens of ns each), so it runs only for those measurements.
type SyscallCounter struct {
	objs syscallsObjects
	link link.Link
}

// NewSyscallCounter starts counting the syscalls of process tgid, leaving
// out thread excludeTID (0: none). It needs root (CAP_BPF and CAP_PERFMON);
// an error wraps ebpf.ErrNotSupported when the kernel lacks tp_btf.
func NewSyscallCounter(tgid, excludeTID uint32) (*SyscallCounter, error) {
	spec, err := loadSyscalls()
	if err != nil {
		return nil, fmt.Errorf("loading syscall counter spec: %w", err)
	}
	var vars syscallsVariableSpecs
	if err := spec.Assign(&vars); err != nil {
		return nil, fmt.Errorf("syscall counter variables: %w", err)
	}
	if err := vars.FilterTgid.Set(tgid); err != nil {
		return nil, fmt.Errorf("setting filter_tgid: %w", err)
	}
	if err := vars.ExcludeTid.Set(excludeTID); err != nil {
		return nil, fmt.Errorf("setting exclude_tid: %w", err)
	}
	c := &SyscallCounter{}
	if err := spec.LoadAndAssign(&c.objs, nil); err != nil {
		return nil, fmt.Errorf("loading syscall counter: %w", err)
	}
	c.link, err = link.AttachTracing(link.TracingOptions{Program: c.objs.CountSysEnter, AttachType: ebpf.AttachTraceRawTp})
	if err != nil {
		_ = c.objs.Close()
		return nil, fmt.Errorf("attaching tp_btf/sys_enter: %w", err)
	}
	return c, nil
}

// Counts returns the syscalls counted so far, by number, summed over CPUs.
func (c *SyscallCounter) Counts() (SyscallCounts, error) {
	out := SyscallCounts{}
	var (
		key  uint32
		vals []uint64
	)
	it := c.objs.SyscallCounts.Iterate()
	for it.Next(&key, &vals) {
		var sum uint64
		for _, v := range vals {
			sum += v
		}
		if sum > 0 {
			out[int(key)] = sum
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("reading syscall counts: %w", err)
	}
	return out, nil
}

// Close detaches and unloads the counter.
func (c *SyscallCounter) Close() error {
	return errors.Join(c.link.Close(), c.objs.Close())
}

// SyscallCounts are syscall counts by syscall number.
type SyscallCounts map[int]uint64

// Sub returns c minus prev, per syscall.
func (c SyscallCounts) Sub(prev SyscallCounts) SyscallCounts {
	out := SyscallCounts{}
	for nr, n := range c {
		if d := n - prev[nr]; d > 0 {
			out[nr] = d
		}
	}
	return out
}

// Total returns the number of syscalls of every kind.
func (c SyscallCounts) Total() uint64 {
	var t uint64
	for _, n := range c {
		t += n
	}
	return t
}

// SyscallCount is one kind of syscall and its count.
type SyscallCount struct {
	Name  string
	Count uint64
}

// Sorted returns the counts by name, most frequent first.
func (c SyscallCounts) Sorted() []SyscallCount {
	out := make([]SyscallCount, 0, len(c))
	for nr, n := range c {
		out = append(out, SyscallCount{SyscallName(nr), n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// syscallNames names the syscalls a broker makes (numbers of this
// architecture, from x/sys/unix); others are shown as "syscall_<nr>".
var syscallNames = map[int]string{
	unix.SYS_READ: "read", unix.SYS_WRITE: "write", unix.SYS_WRITEV: "writev",
	unix.SYS_PREAD64: "pread64", unix.SYS_PWRITE64: "pwrite64",
	unix.SYS_SENDFILE: "sendfile", unix.SYS_SENDMSG: "sendmsg", unix.SYS_RECVFROM: "recvfrom",
	unix.SYS_SENDTO: "sendto", unix.SYS_RECVMSG: "recvmsg", unix.SYS_SETSOCKOPT: "setsockopt",
	unix.SYS_GETSOCKOPT: "getsockopt", unix.SYS_EPOLL_PWAIT: "epoll_pwait", unix.SYS_EPOLL_CTL: "epoll_ctl",
	unix.SYS_FUTEX: "futex", unix.SYS_NANOSLEEP: "nanosleep", unix.SYS_SCHED_YIELD: "sched_yield",
	unix.SYS_FSYNC: "fsync", unix.SYS_FDATASYNC: "fdatasync", unix.SYS_SYNC_FILE_RANGE: "sync_file_range",
	unix.SYS_MMAP: "mmap", unix.SYS_MUNMAP: "munmap", unix.SYS_MADVISE: "madvise",
	unix.SYS_CLOSE: "close", unix.SYS_ACCEPT4: "accept4", unix.SYS_GETPID: "getpid",
	unix.SYS_TGKILL: "tgkill", unix.SYS_RT_SIGRETURN: "rt_sigreturn", unix.SYS_RT_SIGPROCMASK: "rt_sigprocmask",
	unix.SYS_SIGALTSTACK: "sigaltstack", unix.SYS_CLOCK_GETTIME: "clock_gettime", unix.SYS_GETTID: "gettid",
	unix.SYS_FCNTL: "fcntl", unix.SYS_OPENAT: "openat", unix.SYS_FSTAT: "fstat", unix.SYS_PPOLL: "ppoll",
	unix.SYS_GETRLIMIT: "getrlimit", unix.SYS_EPOLL_PWAIT2: "epoll_pwait2", unix.SYS_FALLOCATE: "fallocate",
}

// SyscallName returns the name of syscall number nr on this architecture.
func SyscallName(nr int) string {
	if n, ok := syscallNames[nr]; ok {
		return n
	}
	return fmt.Sprintf("syscall_%d", nr)
}
