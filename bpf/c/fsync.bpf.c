//go:build ignore

// fsync.bpf.c: fsync/fdatasync/sync_file_range latency from the syscall
// tracepoints (syscalls:sys_enter_* / sys_exit_*, keyed by thread id) and
// block request latency from tp_btf/block_rq_issue + block_rq_complete,
// optionally for one device.
#include "lab.h"

// Histogram kinds (log2 nanoseconds).
enum fsync_hist {
	FSYNC_HIST_FSYNC_NS,
	FSYNC_HIST_FDATASYNC_NS,
	FSYNC_HIST_SYNC_FILE_RANGE_NS,
	FSYNC_HIST_BLOCK_RQ_NS,
	FSYNC_HIST_MAX,
};

// Counters. The per-call counters are indexed base + syscall kind.
enum fsync_counter {
	FSYNC_CNT_CALLS = 0,      // + kind: completed calls
	FSYNC_CNT_ERRORS = 3,     // + kind: calls that returned an error
	FSYNC_CNT_LAT_SUM_NS = 6, // + kind: summed latency
	FSYNC_CNT_BLOCK_RQ = 9,
	FSYNC_CNT_BLOCK_BYTES = 10,
	FSYNC_CNT_BLOCK_LAT_SUM_NS = 11,
	FSYNC_CNT_MAX = 12,
};

// Which call a thread is in.
enum fsync_kind {
	FSYNC_KIND_FSYNC,
	FSYNC_KIND_FDATASYNC,
	FSYNC_KIND_SYNC_FILE_RANGE,
};

// Generated into Go with -type.
const enum fsync_hist *unused_fsync_hist __attribute__((unused));
const enum fsync_counter *unused_fsync_counter __attribute__((unused));

// Block device filter: the kernel's dev_t of the whole disk
// (MKDEV(major, minor) = major << 20 | minor); 0 = every device.
const volatile __u32 filter_dev = 0;

LAB_MAPS(FSYNC_CNT_MAX, FSYNC_HIST_MAX)

struct fsync_start {
	__u64 ts;
	__u32 kind;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct fsync_start);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u64);
	__type(value, __u64);
} rq_starts SEC(".maps");

static __always_inline int enter(__u32 kind)
{
	if (!lab_in_scope())
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct fsync_start s = { .ts = bpf_ktime_get_ns(), .kind = kind };
	bpf_map_update_elem(&starts, &tid, &s, BPF_ANY);
	return 0;
}

static __always_inline int exit(long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct fsync_start *s = bpf_map_lookup_elem(&starts, &tid);
	if (!s)
		return 0;
	__u64 delta = bpf_ktime_get_ns() - s->ts;
	__u32 kind = s->kind;
	bpf_map_delete_elem(&starts, &tid);
	if (kind > FSYNC_KIND_SYNC_FILE_RANGE)
		return 0;
	lab_count(FSYNC_CNT_CALLS + kind, 1);
	if (ret < 0)
		lab_count(FSYNC_CNT_ERRORS + kind, 1);
	lab_count(FSYNC_CNT_LAT_SUM_NS + kind, delta);
	lab_hist_log2(FSYNC_HIST_FSYNC_NS + kind, delta);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_fsync")
int sys_enter_fsync(struct trace_event_raw_sys_enter *ctx) { return enter(FSYNC_KIND_FSYNC); }

SEC("tracepoint/syscalls/sys_exit_fsync")
int sys_exit_fsync(struct trace_event_raw_sys_exit *ctx) { return exit(ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_fdatasync")
int sys_enter_fdatasync(struct trace_event_raw_sys_enter *ctx) { return enter(FSYNC_KIND_FDATASYNC); }

SEC("tracepoint/syscalls/sys_exit_fdatasync")
int sys_exit_fdatasync(struct trace_event_raw_sys_exit *ctx) { return exit(ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_sync_file_range")
int sys_enter_sync_file_range(struct trace_event_raw_sys_enter *ctx) { return enter(FSYNC_KIND_SYNC_FILE_RANGE); }

SEC("tracepoint/syscalls/sys_exit_sync_file_range")
int sys_exit_sync_file_range(struct trace_event_raw_sys_exit *ctx) { return exit(ctx->ret); }

static __always_inline bool dev_match(struct request *rq)
{
	if (!filter_dev)
		return true;
	struct gendisk *disk = BPF_CORE_READ(rq, q, disk);
	if (!disk)
		return false;
	__u32 major = BPF_CORE_READ(disk, major);
	__u32 minor = BPF_CORE_READ(disk, first_minor);
	return ((major << 20) | minor) == filter_dev;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(block_rq_issue, struct request *rq)
{
	if (!dev_match(rq))
		return 0;
	__u64 key = (__u64)rq;
	__u64 ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&rq_starts, &key, &ts, BPF_ANY);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(block_rq_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	__u64 key = (__u64)rq;
	__u64 *ts = bpf_map_lookup_elem(&rq_starts, &key);
	if (!ts)
		return 0;
	__u64 delta = bpf_ktime_get_ns() - *ts;
	bpf_map_delete_elem(&rq_starts, &key);
	lab_count(FSYNC_CNT_BLOCK_RQ, 1);
	lab_count(FSYNC_CNT_BLOCK_BYTES, nr_bytes);
	lab_count(FSYNC_CNT_BLOCK_LAT_SUM_NS, delta);
	lab_hist_log2(FSYNC_HIST_BLOCK_RQ_NS, delta);
	return 0;
}
