//go:build ignore

// swap.bpf.c: swap-ins and their latency, swap-outs per memcg. There is no
// swap tracepoint, so the pieces are combined:
//   start:  tp_btf/page_fault_user and tp_btf/page_fault_kernel (per thread)
//   swapin: tp_btf/count_memcg_events with item PSWPIN (enum value resolved
//           with bpf_core_enum_value: it differs between kernel configs)
//   end:    tp_btf/rss_stat with member MM_SWAPENTS for the current mm
//           (do_swap_page decrements the swap-entry counter when done)
// PSWPOUT from count_memcg_events counts swap-outs, per memcg; reclaim runs in
// kswapd or in whichever task hit the limit, so it is keyed by the memcg.
#include "lab.h"

enum swap_counter {
	SWAP_CNT_SWAPIN_PAGES,    // PSWPIN summed over in-scope tasks
	SWAP_CNT_SWAPIN_FAULTS,   // faults that ended with a swap-in (rss_stat)
	SWAP_CNT_SWAPIN_LAT_SUM_NS,
	SWAP_CNT_SWAPOUT_PAGES,   // PSWPOUT for memcgs in scope (all memcgs if no cgroup filter)
	SWAP_CNT_FAULTS,          // page faults seen in scope
	SWAP_CNT_MAX,
};

enum swap_hist {
	SWAP_HIST_SWAPIN_NS,
	SWAP_HIST_MAX,
};

const enum swap_counter *unused_swap_counter __attribute__((unused));
const enum swap_hist *unused_swap_hist __attribute__((unused));

LAB_MAPS(SWAP_CNT_MAX, SWAP_HIST_MAX)

// memcg_swap is the per-memcg tally; key: the memcg's cgroup kernfs id (the
// inode number of its directory).
struct memcg_swap {
	__u64 swapin;
	__u64 swapout;
};

const struct memcg_swap *unused_memcg_swap __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct memcg_swap);
} memcgs SEC(".maps");

struct fault {
	__u64 ts;
	__u64 swapin; // PSWPIN seen during this fault
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct fault);
} faults SEC(".maps");

static __always_inline int fault_start(void)
{
	if (!lab_in_scope())
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct fault f = { .ts = bpf_ktime_get_ns() };
	bpf_map_update_elem(&faults, &tid, &f, BPF_ANY);
	lab_count(SWAP_CNT_FAULTS, 1);
	return 0;
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(page_fault_user, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	return fault_start();
}

SEC("tp_btf/page_fault_kernel")
int BPF_PROG(page_fault_kernel, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	return fault_start();
}

static __always_inline __u64 memcg_id(struct mem_cgroup *memcg)
{
	return BPF_CORE_READ(memcg, css.cgroup, kn, id);
}

SEC("tp_btf/count_memcg_events")
int BPF_PROG(count_memcg_events, struct mem_cgroup *memcg, int item, unsigned long val)
{
	int pswpin = bpf_core_enum_value(enum vm_event_item, PSWPIN);
	int pswpout = bpf_core_enum_value(enum vm_event_item, PSWPOUT);
	if (item != pswpin && item != pswpout)
		return 0;
	__u64 id = memcg_id(memcg);
	if (filter_cgroup_id && filter_cgroup_v1 && id != filter_cgroup_id)
		return 0;

	struct memcg_swap *m = bpf_map_lookup_elem(&memcgs, &id);
	if (!m) {
		struct memcg_swap zero = {};
		bpf_map_update_elem(&memcgs, &id, &zero, BPF_NOEXIST);
		m = bpf_map_lookup_elem(&memcgs, &id);
		if (!m)
			return 0;
	}
	if (item == pswpout) {
		__sync_fetch_and_add(&m->swapout, val);
		lab_count(SWAP_CNT_SWAPOUT_PAGES, val);
		return 0;
	}
	__sync_fetch_and_add(&m->swapin, val);
	if (!lab_in_scope())
		return 0;
	lab_count(SWAP_CNT_SWAPIN_PAGES, val);
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct fault *f = bpf_map_lookup_elem(&faults, &tid);
	if (f)
		f->swapin += val;
	return 0;
}

SEC("tp_btf/rss_stat")
int BPF_PROG(rss_stat, struct mm_struct *mm, int member)
{
	// MM_SWAPENTS sits in an anonymous enum, so bpf_core_enum_value cannot
	// name it; its value (2) has not changed since it was added in 2.6.34.
	if (member != MM_SWAPENTS)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if ((__u64)BPF_CORE_READ(task, mm) != (__u64)mm)
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct fault *f = bpf_map_lookup_elem(&faults, &tid);
	if (!f || !f->swapin)
		return 0;
	__u64 delta = bpf_ktime_get_ns() - f->ts;
	bpf_map_delete_elem(&faults, &tid);
	lab_count(SWAP_CNT_SWAPIN_FAULTS, 1);
	lab_count(SWAP_CNT_SWAPIN_LAT_SUM_NS, delta);
	lab_hist_log2(SWAP_HIST_SWAPIN_NS, delta);
	return 0;
}
