// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Who closed each connection, from tp_btf/inet_sock_set_state (BTF-enabled
 * tracepoints attach without tracefs). A close() or shutdown(SHUT_WR) moves
 * ESTABLISHED to FIN_WAIT1 (or CLOSE_WAIT to LAST_ACK) in the context of the
 * process that called it: that is the one moment its pid is known. Later
 * transitions run in softirq, where the current task is whoever was
 * interrupted, so they only carry what was remembered. */
#include "common.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Closers by socket cookie. A TIME_WAIT socket inherits its full socket's
 * cookie, so sock_diag's cookie of a TIME_WAIT finds who closed it, also
 * after that process exited. LRU: the oldest entries go first, long after
 * their 60 s of TIME_WAIT at any churn below max_entries / 60 per second. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TCPD_CLOSERS_MAX);
	__type(key, __u64);
	__type(value, struct tcpd_closer);
} tcpd_closers SEC(".maps");

/* Per socket, kept by the kernel with the socket and freed with it: no
 * hash table to update and clean for every connection (the closers table
 * above holds only the first closers, whose TIME_WAIT outlives the socket). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tcpd_conn);
} tcpd_conns SEC(".maps");

/* Connections opened per upstream (remote ip:port of a connect) and per
 * listening port (local port of an accept). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TCPD_OPEN_GROUPS_MAX);
	__type(key, struct tcpd_open_key);
	__type(value, __u64);
} tcpd_opens SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} tcpd_events SEC(".maps");

/* Events lost because the ring was full. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} tcpd_lost SEC(".maps");

static __always_inline void fill_tuple(struct tcpd_event *e, const struct sock *sk)
{
	read_tuple(&sk->__sk_common, &e->family, &e->sport, &e->dport, e->saddr, e->daddr,
		   &e->netns);
}

static __always_inline void count_open(const struct sock *sk, __u8 dir)
{
	const struct sock_common *skc = &sk->__sk_common;
	struct tcpd_open_key k = {};
	k.family = skc->skc_family;
	k.dir = dir;
	k.netns = BPF_CORE_READ(skc, skc_net.net, ns.inum);
	/* An accept is grouped by the address it arrived at: a listener
	 * bound to 127.0.0.1:8000 shows as that, not as *:8000. */
	if (dir == TCPD_OPENED_ACCEPTED) {
		k.port = skc->skc_num;
		if (k.family == AF_INET6) {
			BPF_CORE_READ_INTO(&k.addr, skc, skc_v6_rcv_saddr.in6_u.u6_addr8);
		} else {
			__u32 s = skc->skc_rcv_saddr;
			__builtin_memcpy(k.addr, &s, 4);
		}
	} else {
		k.port = __builtin_bswap16(skc->skc_dport);
		if (k.family == AF_INET6) {
			BPF_CORE_READ_INTO(&k.addr, skc, skc_v6_daddr.in6_u.u6_addr8);
		} else {
			__u32 d = skc->skc_daddr;
			__builtin_memcpy(k.addr, &d, 4);
		}
	}
	__u64 one = 1;
	__u64 *n = bpf_map_lookup_elem(&tcpd_opens, &k);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&tcpd_opens, &k, &one, BPF_NOEXIST);
}

SEC("tp_btf/inet_sock_set_state")
int on_state(unsigned long long *ctx)
{
	struct sock *sk = (void *)ctx[0];
	int oldstate = (int)ctx[1];
	int newstate = (int)ctx[2];
	__u64 now = bpf_ktime_get_ns();

	if (newstate == TCP_ESTABLISHED) {
		struct tcpd_conn *c = bpf_sk_storage_get(&tcpd_conns, sk, 0,
							 BPF_SK_STORAGE_GET_F_CREATE);
		__u32 dir = oldstate == TCP_SYN_SENT ? TCPD_OPENED_CONNECTED : TCPD_OPENED_ACCEPTED;
		if (c) {
			c->born_ns = now;
			c->dir = dir;
			c->sport = sk->__sk_common.skc_num;
		}
		count_open(sk, dir);
		return 0;
	}
	__u8 side = 0;
	if ((oldstate == TCP_ESTABLISHED || oldstate == TCP_SYN_RECV) &&
	    newstate == TCP_FIN_WAIT1)
		side = TCPD_SIDE_FIRST;
	else if (oldstate == TCP_CLOSE_WAIT && newstate == TCP_LAST_ACK)
		side = TCPD_SIDE_LAST;
	if (side) {
		/* Created here too: a connection established before tracing. */
		struct tcpd_conn *c = bpf_sk_storage_get(&tcpd_conns, sk, 0,
							 BPF_SK_STORAGE_GET_F_CREATE);
		if (!c)
			return 0;
		struct task_struct *task = (void *)bpf_get_current_task();
		c->closer.ts_ns = now;
		c->closer.cgroup_id = bpf_get_current_cgroup_id();
		c->closer.pid = pid_in_reader_ns(task);
		c->closer.side = side;
		c->closer.sport = sk->__sk_common.skc_num;
		/* The process's name (its main thread's), as /proc/PID/comm
		 * shows it, not the name of the thread that closed. */
		BPF_CORE_READ_STR_INTO(&c->closer.comm, task, group_leader, comm);
		/* A socket's cookie is made on first use, and a TIME_WAIT
		 * socket copies its full socket's when it is created: make it
		 * now, or the TIME_WAIT would get a cookie of its own later. */
		if (side == TCPD_SIDE_FIRST)
			bpf_get_socket_cookie(sk);
		return 0;
	}
	/* The end of a connection: not a refused connect, not a listener. */
	if (newstate != TCP_CLOSE || oldstate == TCP_SYN_SENT || oldstate == TCP_LISTEN ||
	    oldstate == TCP_CLOSE)
		return 0;
	__u64 cookie = bpf_get_socket_cookie(sk);
	struct tcpd_conn *c = bpf_sk_storage_get(&tcpd_conns, sk, 0, 0);
	/* A first closer's socket becomes TIME_WAIT, which keeps this cookie
	 * (and no socket storage): remember who closed it by cookie. */
	if (c && c->closer.side == TCPD_SIDE_FIRST)
		bpf_map_update_elem(&tcpd_closers, &cookie, &c->closer, BPF_ANY);
	struct tcpd_event *e = bpf_ringbuf_reserve(&tcpd_events, sizeof(*e), 0);
	if (!e) {
		__u32 zero = 0;
		__u64 *lost = bpf_map_lookup_elem(&tcpd_lost, &zero);
		if (lost)
			__sync_fetch_and_add(lost, 1);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = now;
	e->cookie = cookie;
	e->oldstate = oldstate;
	/* Leaving FIN_WAIT2, the socket becomes TIME_WAIT if the peer's FIN
	 * came (tcp_fin sets SOCK_DONE), else a FIN_WAIT2 orphan that waits
	 * tcp_fin_timeout for a FIN that may never come. SOCK_DONE is bit 1
	 * of enum sock_flags, unchanged since it was written; the flags moved
	 * into sock_common in 6.13. */
	unsigned long flags;
	if (bpf_core_field_exists(struct sock_common, skc_flags))
		flags = BPF_CORE_READ(&sk->__sk_common, skc_flags);
	else
		flags = BPF_CORE_READ(sk, sk_flags);
	e->peer_fin = (flags >> 1) & 1;
	__u16 born_sport = 0;
	if (c) {
		if (c->born_ns) {
			e->lifetime_ns = now - c->born_ns;
			e->opened = c->dir;
			born_sport = c->sport;
		}
		e->closer = c->closer;
	}
	fill_tuple(e, sk);
	/* Leaving for CLOSE, the socket has already given its port back. */
	if (!e->sport)
		e->sport = born_sport ? born_sport : e->closer.sport;
	/* Drained on a timer: waking the reader per event cost a third of the
	 * connection rate in measurements; not waking cost 3%. */
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}
