//go:build ignore

// sockbuf.bpf.c: socket buffer fill and TCP state for the sockets of the
// processes in scope.
//   tp_btf/sock_send_length: sk_wmem_queued / sk_sndbuf after each send, and
//     ret == -EAGAIN (a full send buffer on Go's non-blocking sockets)
//   tp_btf/sock_recv_length: sk_backlog.rmem_alloc / sk_rcvbuf after each recv
//   tp_btf/tcp_probe (softirq): snd_cwnd, snd_wnd, srtt for sockets in the
//     own_socks map (filled by the two events above)
//   tp_btf/sock_exceed_buf_limit: tcp_mem / memcg socket memory pressure
//   tp_btf/kfree_skb: drops of skbs owned by those sockets, by reason
#include "lab.h"

#define LAB_EAGAIN 11

enum sockbuf_counter {
	SOCKBUF_CNT_SENDS,
	SOCKBUF_CNT_SEND_BYTES,
	SOCKBUF_CNT_SEND_EAGAIN,
	SOCKBUF_CNT_RECVS,
	SOCKBUF_CNT_RECV_BYTES,
	SOCKBUF_CNT_TCP_PROBES,
	SOCKBUF_CNT_EXCEED_BUF_LIMIT,
	SOCKBUF_CNT_DROPS,
	SOCKBUF_CNT_MAX,
};

enum sockbuf_hist {
	SOCKBUF_HIST_SEND_FILL_PCT, // linear: slot = percent / 5; slot 20 = 100% or more
	SOCKBUF_HIST_RECV_FILL_PCT, // linear: slot = percent / 5; slot 20 = 100% or more
	SOCKBUF_HIST_SRTT_US,       // log2 microseconds
	SOCKBUF_HIST_CWND,          // log2 segments
	SOCKBUF_HIST_SND_WND,       // log2 bytes
	SOCKBUF_HIST_MAX,
};

const enum sockbuf_counter *unused_sockbuf_counter __attribute__((unused));
const enum sockbuf_hist *unused_sockbuf_hist __attribute__((unused));

LAB_MAPS(SOCKBUF_CNT_MAX, SOCKBUF_HIST_MAX)

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} own_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} drop_reasons SEC(".maps");

static __always_inline __u32 fill_pct(__u64 used, __u64 size)
{
	if (!size)
		return 0;
	__u64 pct = used * 100 / size;
	return pct > 1000 ? 1000 : (__u32)pct;
}

static __always_inline bool is_own(struct sock *sk)
{
	__u64 key = (__u64)sk;
	return sk && bpf_map_lookup_elem(&own_socks, &key);
}

// remember marks sk as the scope's socket. A lookup first: the socket is
// known after its first send or receive, and an LRU hash update (a lock and
// an element move) on every one was the family's largest cost.
static __always_inline void remember(struct sock *sk)
{
	if (is_own(sk))
		return;
	__u64 key = (__u64)sk;
	__u8 one = 1;
	bpf_map_update_elem(&own_socks, &key, &one, BPF_ANY);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sock_send_length, struct sock *sk, int ret, int flags)
{
	if (!lab_in_scope())
		return 0;
	remember(sk);
	__u32 queued = (__u32)BPF_CORE_READ(sk, sk_wmem_queued);
	__u32 sndbuf = (__u32)BPF_CORE_READ(sk, sk_sndbuf);
	__u32 pct = fill_pct(queued, sndbuf);
	lab_count(SOCKBUF_CNT_SENDS, 1);
	if (ret > 0)
		lab_count(SOCKBUF_CNT_SEND_BYTES, (__u32)ret);
	if (ret == -LAB_EAGAIN)
		lab_count(SOCKBUF_CNT_SEND_EAGAIN, 1);
	lab_hist_slot(SOCKBUF_HIST_SEND_FILL_PCT, (pct > 100 ? 100 : pct) / 5);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sock_recv_length, struct sock *sk, int ret, int flags)
{
	if (!lab_in_scope())
		return 0;
	remember(sk);
	__u32 alloc = (__u32)BPF_CORE_READ(sk, sk_backlog.rmem_alloc.counter);
	__u32 rcvbuf = (__u32)BPF_CORE_READ(sk, sk_rcvbuf);
	__u32 pct = fill_pct(alloc, rcvbuf);
	lab_count(SOCKBUF_CNT_RECVS, 1);
	if (ret > 0)
		lab_count(SOCKBUF_CNT_RECV_BYTES, (__u32)ret);
	lab_hist_slot(SOCKBUF_HIST_RECV_FILL_PCT, (pct > 100 ? 100 : pct) / 5);
	return 0;
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(tcp_probe, struct sock *sk, const struct sk_buff *skb)
{
	if (!is_own(sk))
		return 0;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return 0;
	lab_count(SOCKBUF_CNT_TCP_PROBES, 1);
	lab_hist_log2(SOCKBUF_HIST_SRTT_US, BPF_CORE_READ(tp, srtt_us) >> 3);
	lab_hist_log2(SOCKBUF_HIST_CWND, BPF_CORE_READ(tp, snd_cwnd));
	lab_hist_log2(SOCKBUF_HIST_SND_WND, BPF_CORE_READ(tp, snd_wnd));
	return 0;
}

SEC("tp_btf/sock_exceed_buf_limit")
int BPF_PROG(sock_exceed_buf_limit, struct sock *sk, struct proto *prot, long allocated, int kind)
{
	if (!is_own(sk) && !lab_in_scope())
		return 0;
	lab_count(SOCKBUF_CNT_EXCEED_BUF_LIMIT, 1);
	return 0;
}

// kfree_skb_has_rx_sk is set by the loader when the kernel's kfree_skb
// tracepoint carries the receiving socket as a fourth argument (added in
// Linux 6.11). The verifier prunes the ctx[3] read when it is 0, so the
// program loads on older kernels too.
const volatile __u8 kfree_skb_has_rx_sk = 0;

SEC("tp_btf/kfree_skb")
int kfree_skb(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	enum skb_drop_reason reason = (enum skb_drop_reason)ctx[2];
	struct sock *sk = NULL;
	if (kfree_skb_has_rx_sk)
		sk = (struct sock *)ctx[3];
	if (!sk && skb)
		sk = BPF_CORE_READ(skb, sk);
	if (!is_own(sk))
		return 0;
	lab_count(SOCKBUF_CNT_DROPS, 1);
	__u32 r = (__u32)reason;
	__u64 *v = bpf_map_lookup_elem(&drop_reasons, &r);
	if (v) {
		__sync_fetch_and_add(v, 1);
	} else {
		__u64 one = 1;
		bpf_map_update_elem(&drop_reasons, &r, &one, BPF_NOEXIST);
	}
	return 0;
}
