//go:build ignore

// lab.h: definitions every brokerlab probe shares: the scope filter (set as
// const volatile rodata before load, so the verifier drops dead branches),
// per-CPU counter and histogram maps, and log2 bucketing.
#ifndef LAB_H
#define LAB_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

// Number of slots per histogram: log2 of a u64 never exceeds 63.
#define LAB_HIST_SLOTS 64

// Scope filters, written by the Go loader before load (0 = off).
// filter_tgid: only the process with this tgid.
// filter_cgroup_id: only tasks in this cgroup (exact match, not descendants).
//   With filter_cgroup_v1 == 0 it is compared with bpf_get_current_cgroup_id()
//   (the cgroup v2 id, i.e. the inode number of the cgroup2 directory).
//   With filter_cgroup_v1 == 1 it is compared with the kernfs id of the task's
//   cgroup v1 *memory* controller cgroup (task->cgroups->subsys[memory_cgrp_id]
//   ->cgroup->kn->id), which equals the inode number of its directory under
//   /sys/fs/cgroup/memory: bpf_get_current_cgroup_id() only knows cgroup v2.
const volatile __u32 filter_tgid = 0;
const volatile __u64 filter_cgroup_id = 0;
const volatile __u8 filter_cgroup_v1 = 0;

static __always_inline __u64 lab_memcg_v1_id(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	int idx = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	struct css_set *cgroups = BPF_CORE_READ(task, cgroups);
	struct cgroup_subsys_state *css = NULL;
	bpf_core_read(&css, sizeof(css), &cgroups->subsys[idx & 15]);
	if (!css)
		return 0;
	return BPF_CORE_READ(css, cgroup, kn, id);
}

// lab_in_scope reports whether the current task is inside the configured scope.
static __always_inline bool lab_in_scope(void)
{
	if (filter_tgid) {
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;
		if (tgid != filter_tgid)
			return false;
	}
	if (filter_cgroup_id) {
		__u64 id;
		if (filter_cgroup_v1)
			id = lab_memcg_v1_id();
		else
			id = bpf_get_current_cgroup_id();
		if (id != filter_cgroup_id)
			return false;
	}
	return true;
}

// lab_log2 returns floor(log2(v)), 0 for v <= 1. Unsigned only: signed
// division crashes clang 14's BPF backend.
static __always_inline __u32 lab_log2(__u64 v)
{
	__u32 r = 0, shift;
	shift = (v > 0xFFFFFFFFULL) << 5; v >>= shift; r |= shift;
	shift = (v > 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

// LAB_MAPS declares the two per-CPU maps every family has: counters (indexed
// by the family's counter enum) and hists (histogram kind * LAB_HIST_SLOTS +
// slot). The Go side sums them over CPUs.
#define LAB_MAPS(ncounters, nhists)                                  \
	struct {                                                     \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);             \
		__uint(max_entries, (ncounters));                    \
		__type(key, __u32);                                  \
		__type(value, __u64);                                \
	} counters SEC(".maps");                                     \
	struct {                                                     \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);             \
		__uint(max_entries, (nhists) * LAB_HIST_SLOTS);      \
		__type(key, __u32);                                  \
		__type(value, __u64);                                \
	} hists SEC(".maps");                                        \
	static __always_inline __attribute__((unused)) void lab_count(__u32 idx, __u64 n)    \
	{                                                            \
		__u64 *v = bpf_map_lookup_elem(&counters, &idx);     \
		if (v)                                               \
			*v += n;                                     \
	}                                                            \
	static __always_inline __attribute__((unused)) void lab_max(__u32 idx, __u64 n)      \
	{                                                            \
		__u64 *v = bpf_map_lookup_elem(&counters, &idx);     \
		if (v && n > *v)                                     \
			*v = n;                                      \
	}                                                            \
	static __always_inline __attribute__((unused)) void lab_hist_slot(__u32 kind, __u32 slot) \
	{                                                            \
		if (slot >= LAB_HIST_SLOTS)                          \
			slot = LAB_HIST_SLOTS - 1;                   \
		__u32 key = kind * LAB_HIST_SLOTS + slot;            \
		__u64 *v = bpf_map_lookup_elem(&hists, &key);        \
		if (v)                                               \
			*v += 1;                                     \
	}                                                            \
	static __always_inline __attribute__((unused)) void lab_hist_log2(__u32 kind, __u64 v) \
	{                                                            \
		lab_hist_slot(kind, lab_log2(v));                    \
	}

#endif
