//go:build ignore

// sendfile.bpf.c: sendfile(2) calls, bytes and latency from
// syscalls:sys_enter/exit_sendfile64 (x86-64 and arm64 have no separate
// sendfile event), and the zero-copy share: socket payload bytes sent inside
// sendfile (splice_to_socket -> sock_sendmsg fires tp_btf/sock_send_length
// with MSG_SPLICE_PAGES) against bytes sent by ordinary send/write calls.
#include "lab.h"

enum sendfile_counter {
	SENDFILE_CNT_CALLS,
	SENDFILE_CNT_BYTES,
	SENDFILE_CNT_ERRORS,
	SENDFILE_CNT_LAT_SUM_NS,
	SENDFILE_CNT_SOCK_BYTES_SENDFILE, // socket bytes sent inside sendfile
	SENDFILE_CNT_SOCK_BYTES_COPY,     // socket bytes sent by send/write (copied)
	SENDFILE_CNT_MAX,
};

enum sendfile_hist {
	SENDFILE_HIST_LAT_NS,
	SENDFILE_HIST_BYTES, // log2 bytes per call
	SENDFILE_HIST_MAX,
};

const enum sendfile_counter *unused_sendfile_counter __attribute__((unused));
const enum sendfile_hist *unused_sendfile_hist __attribute__((unused));

LAB_MAPS(SENDFILE_CNT_MAX, SENDFILE_HIST_MAX)

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, __u64);
} starts SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_sendfile64")
int sys_enter_sendfile64(struct trace_event_raw_sys_enter *ctx)
{
	if (!lab_in_scope())
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&starts, &tid, &ts, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendfile64")
int sys_exit_sendfile64(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *ts = bpf_map_lookup_elem(&starts, &tid);
	if (!ts)
		return 0;
	__u64 delta = bpf_ktime_get_ns() - *ts;
	bpf_map_delete_elem(&starts, &tid);
	long ret = ctx->ret;
	lab_count(SENDFILE_CNT_CALLS, 1);
	lab_count(SENDFILE_CNT_LAT_SUM_NS, delta);
	lab_hist_log2(SENDFILE_HIST_LAT_NS, delta);
	if (ret < 0) {
		lab_count(SENDFILE_CNT_ERRORS, 1);
		return 0;
	}
	lab_count(SENDFILE_CNT_BYTES, (__u64)ret);
	lab_hist_log2(SENDFILE_HIST_BYTES, (__u64)ret);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sock_send_length, struct sock *sk, int ret, int flags)
{
	if (ret <= 0 || !lab_in_scope())
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	if (bpf_map_lookup_elem(&starts, &tid))
		lab_count(SENDFILE_CNT_SOCK_BYTES_SENDFILE, (__u32)ret);
	else
		lab_count(SENDFILE_CNT_SOCK_BYTES_COPY, (__u32)ret);
	return 0;
}
