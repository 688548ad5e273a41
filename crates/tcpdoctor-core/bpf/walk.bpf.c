// SPDX-License-Identifier: GPL-2.0 OR MIT
/* The census counted by walking the TCP hash tables of the calling thread's
 * network namespace, the way the kernel's own lockless lookups do (RCU,
 * hlist_nulls), a range of buckets per run.
 *
 * Why not only iter/tcp: that iterator takes a reference and the socket
 * lock of every full socket and asks for its uid before the program sees
 * it, touching three or four cache lines of each socket. Counting needs
 * two: the socket's header (state, family, namespace) and its hash-chain
 * link. At a million sockets that is the difference between ~0.6 of the
 * netlink dump's time and well under half of it (docs/benchmarks.md).
 *
 * Userspace runs it with BPF_PROG_TEST_RUN, which holds rcu_read_lock
 * (with preemption off) around the run: ctx[0] is the table (0:
 * established, 1: listening), ctx[1] the first bucket, ctx[2] at most how
 * many buckets, ctx[3] after how many sockets to stop at the end of a
 * chain, so that no run holds the CPU for long. It returns how many
 * buckets it walked; userspace goes on from there. */
#include "common.h"

#ifndef barrier_var
#define barrier_var(var) asm volatile("" : "+r"(var))
#endif

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TCPD_FAMILIES * TCPD_STATES);
	__type(key, __u32);
	__type(value, __u64);
} tcpd_counts SEC(".maps");

/* What the walk learnt besides the counts (enum tcpd_walk_info). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TCPD_WALK_INFO);
	__type(key, __u32);
	__type(value, __u64);
} tcpd_walk SEC(".maps");

/* A chain longer than this is not walked to its end: the run says so and
 * userspace counts another way. The kernel keeps chains short (a table of
 * at least 128 buckets, resized at boot to the memory); a million sockets
 * in the smallest per-namespace table would still fit. */
#define TCPD_CHAIN_MAX (1 << 16)

/* The header of a socket up to and including its hash-chain link: one
 * read brings every field the census needs. Sized for the kernels of
 * today (the link sits at ~104 bytes) with room to grow. */
#define TCPD_HEAD_MAX 192

struct walk {
	__u64 net;
	__u64 table;
	__u64 stride;
	__u64 head_off;
	__u64 first;
	__u64 end;
	__u64 group;
	__u64 sockets;
	__u64 budget;
	__u32 buckets;
	__u32 listening;
};

struct chain {
	__u64 node;
	__u64 net;
	__u64 bucket;
	__u64 sockets;
	__u32 listening;
	__u32 done;
};

static __always_inline void info_add(__u32 key, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&tcpd_walk, &key);
	if (v)
		*v += n;
}

static __always_inline void info_set(__u32 key, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&tcpd_walk, &key);
	if (v)
		*v = n;
}

static long visit_socket(__u32 i, struct chain *c)
{
	__u64 node = c->node;
	if (node & 1) {
		/* The end of a chain is its bucket's number: another number
		 * means a socket moved to another chain while we were on it
		 * (freed and reused under RCU); counts of that chain may be off
		 * by the sockets in flight, as in any dump of a busy table. */
		if (!c->listening && (node >> 1) != c->bucket)
			info_add(TCPD_WALK_MOVED, 1);
		c->done = 1;
		return 1;
	}
	/* Offsets are relocated to the running kernel's layout; the barriers
	 * keep the compiler from folding them into other constants, which
	 * libbpf could then not relocate. */
	__u64 link_off = bpf_core_field_offset(struct sock_common, skc_nulls_node);
	__u64 net_off = bpf_core_field_offset(struct sock_common, skc_net);
	__u64 state_off = bpf_core_field_offset(struct sock_common, skc_state);
	__u64 family_off = bpf_core_field_offset(struct sock_common, skc_family);
	barrier_var(link_off);
	barrier_var(net_off);
	barrier_var(state_off);
	barrier_var(family_off);
	__u64 sk = node - link_off;
	__u64 words[TCPD_HEAD_MAX / 8]; /* 8-aligned: the verifier wants aligned loads */
	__u8 *head = (__u8 *)words;
	__u64 len = link_off + sizeof(__u64);
	if (len > sizeof(words) || net_off + 8 > len || state_off >= len || family_off + 2 > len ||
	    bpf_probe_read_kernel(head, len, (void *)sk)) {
		info_add(TCPD_WALK_UNREADABLE, 1);
		c->done = 1;
		return 1;
	}
	c->node = *(__u64 *)(head + link_off);
	c->sockets++;
	if (*(__u64 *)(head + net_off) != c->net)
		return 0;
	__u8 state = head[state_off];
	__u16 family = *(__u16 *)(head + family_off);
	if (state == TCP_TIME_WAIT) {
		/* sock_diag reports a minisocket's substate. */
		struct inet_timewait_sock *tw = (void *)sk;
		state = BPF_CORE_READ(tw, tw_substate);
	} else if (state == TCP_NEW_SYN_RECV) {
		state = TCP_SYN_RECV;
	}
	if (state >= TCPD_STATES)
		state = 0;
	__u32 k = (family == AF_INET6 ? TCPD_STATES : 0) + state;
	__u64 *n = bpf_map_lookup_elem(&tcpd_counts, &k);
	if (n)
		*n += 1;
	return 0;
}

/* Counts the chain that starts at `node`, the head of bucket `bucket`.
 * Returns nonzero when the run should stop (its budget is spent). */
static __always_inline int walk_chain(struct walk *w, __u64 bucket, __u64 node)
{
	struct chain c = {
		.node = node,
		.net = w->net,
		.bucket = bucket,
		.listening = w->listening,
	};
	bpf_loop(TCPD_CHAIN_MAX, visit_socket, &c, 0);
	if (!c.done)
		info_add(TCPD_WALK_LONG_CHAINS, 1);
	w->sockets += c.sockets;
	return w->sockets >= w->budget;
}

/* One bucket of any table: its head read on its own. */
static long visit_bucket(__u32 i, struct walk *w)
{
	__u64 bucket = w->first + i;
	__u64 node;
	if (bpf_probe_read_kernel(&node, sizeof(node),
				  (void *)(w->table + bucket * w->stride + w->head_off))) {
		info_add(TCPD_WALK_UNREADABLE, 1);
		return 1;
	}
	w->buckets = i + 1;
	return walk_chain(w, bucket, node);
}

/* The established table is an array of bare chain heads, most of them
 * empty: TCPD_GROUP heads come in one read, and an empty one costs a test
 * instead of a helper call (~40 ns a bucket before, 10 ms for an empty
 * table of 262,144). */
#define TCPD_GROUP 32

/* The current group's heads: in a global, not on the stack, so that a
 * callback can index it (one run at a time per loaded object). */
__u64 tcpd_heads[TCPD_GROUP];

static long visit_head(__u32 j, struct walk *w)
{
	__u64 node = tcpd_heads[j & (TCPD_GROUP - 1)];
	w->buckets = w->group + j + 1 - w->first;
	if (node & 1)
		return 0; /* empty: the head is its nulls marker */
	return walk_chain(w, w->group + j, node);
}

static long visit_group(__u32 g, struct walk *w)
{
	w->group = w->first + (__u64)g * TCPD_GROUP;
	__u64 n = w->end - w->group;
	if (n > TCPD_GROUP)
		n = TCPD_GROUP;
	if (bpf_probe_read_kernel(tcpd_heads, n * sizeof(__u64),
				  (void *)(w->table + w->group * sizeof(__u64)))) {
		info_add(TCPD_WALK_UNREADABLE, 1);
		return 1;
	}
	bpf_loop(n, visit_head, w, 0);
	return w->sockets >= w->budget;
}

SEC("raw_tp")
int walk_tcp(__u64 *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct net *net = BPF_CORE_READ(task, nsproxy, net_ns);
	struct inet_hashinfo *h = BPF_CORE_READ(net, ipv4.tcp_death_row.hashinfo);
	if (!h)
		return 0;
	__u64 ehash_buckets = (__u64)BPF_CORE_READ(h, ehash_mask) + 1;
	__u64 lhash_buckets = (__u64)BPF_CORE_READ(h, lhash2_mask) + 1;
	info_set(TCPD_WALK_EHASH_BUCKETS, ehash_buckets);
	info_set(TCPD_WALK_LHASH_BUCKETS, lhash_buckets);

	struct walk w = { .net = (__u64)net, .first = ctx[1], .budget = ctx[3] };
	__u64 size;
	if (ctx[0] == 0) {
		w.table = (__u64)BPF_CORE_READ(h, ehash);
		w.stride = bpf_core_type_size(struct inet_ehash_bucket);
		w.head_off = bpf_core_field_offset(struct inet_ehash_bucket, chain);
		size = ehash_buckets;
	} else {
		w.table = (__u64)BPF_CORE_READ(h, lhash2);
		w.stride = bpf_core_type_size(struct inet_listen_hashbucket);
		w.head_off = bpf_core_field_offset(struct inet_listen_hashbucket, nulls_head);
		w.listening = 1;
		size = lhash_buckets;
	}
	if (!w.table || w.first >= size)
		return 0;
	__u64 n = ctx[2];
	if (n > size - w.first)
		n = size - w.first;
	if (n > (1 << 23))
		n = 1 << 23;
	w.end = w.first + n;
	if (!w.listening && w.stride == 8 && w.head_off == 0)
		bpf_loop((n + TCPD_GROUP - 1) / TCPD_GROUP, visit_group, &w, 0);
	else
		bpf_loop(n, visit_bucket, &w, 0);
	return w.buckets;
}
