//go:build ignore

// syscalls.bpf.c: every syscall of one process, counted by syscall number,
// from the raw_syscalls:sys_enter event (as tp_btf/sys_enter, the cheapest
// way to attach to it). One thread can be left out: the request benchmarks
// run their client on one locked OS thread inside the broker's process, and
// count only the broker's syscalls.
#include "lab.h"

// Syscall numbers above this are not counted (x86-64 and arm64 stay below
// 512; see arch/x86/entry/syscalls/syscall_64.tbl).
#define SYSCALLS_MAX 512

// exclude_tid: a thread whose syscalls are not counted (0 = none).
const volatile __u32 exclude_tid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SYSCALLS_MAX);
	__type(key, __u32);
	__type(value, __u64);
} syscall_counts SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(count_sys_enter, struct pt_regs *regs, long id)
{
	if (!lab_in_scope())
		return 0;
	if (exclude_tid && (__u32)bpf_get_current_pid_tgid() == exclude_tid)
		return 0;
	__u32 nr = (__u32)id;
	if (nr >= SYSCALLS_MAX)
		return 0;
	__u64 *c = bpf_map_lookup_elem(&syscall_counts, &nr);
	if (c)
		*c += 1;
	return 0;
}
