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
 * buckets it walked; userspace goes on from there.
 *
 * One loop of steps, each either a socket or the move to the next bucket:
 * nested loops (buckets, then each chain) took the verifier 6 ms. */
#include "common.h"
#include "census_counts.h"

#ifndef barrier_var
#define barrier_var(var) asm volatile("" : "+r"(var))
#endif

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* What the walk learnt besides the counts (enum tcpd_walk_info). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TCPD_WALK_INFO);
	__type(key, __u32);
	__type(value, __u64);
} tcpd_walk SEC(".maps");

/* A chain longer than this is not walked to its end: the run says so and
 * userspace counts another way. The kernel keeps chains short (a table of
 * at least 128 buckets, sized at boot to the memory); a million sockets
 * in the smallest per-namespace table would still fit. */
#define TCPD_CHAIN_MAX (1 << 16)

/* The header of a socket up to and including its hash-chain link: one
 * read brings every field the census needs. Sized for the kernels of
 * today (the link sits at ~104 bytes) with room to grow. */
#define TCPD_HEAD_MAX 192

/* The established table is an array of bare chain heads, most of them
 * empty: TCPD_GROUP heads come in one read, and a step skips the empty
 * ones of a group (a helper call and a step per bucket cost ~40 ns each,
 * 10 ms for an empty table of 262,144). */
#define TCPD_GROUP 32

/* Globals rather than stack buffers: a callback can index them, and the
 * verifier need not compare them at every state. One run at a time per
 * loaded object. */
__u64 tcpd_heads[TCPD_GROUP];
__u64 tcpd_sock_head[TCPD_HEAD_MAX / 8];

struct walk {
	__u64 net;
	__u64 table;
	__u64 stride;
	__u64 head_off;
	__u64 first;       /* the run's first bucket */
	__u64 end;         /* one past its last */
	__u64 next_bucket; /* the bucket to go to at the end of this chain */
	__u64 bucket;      /* the bucket whose chain is being walked */
	__u64 node;        /* the socket's chain link, or a chain's end (odd) */
	__u64 sockets;
	__u64 budget;
	__u32 chain_len;
	__u32 listening;
	__u32 grouped;
	__u32 started;
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

/* Moves to the head of the next bucket, and on past the empty ones of its
 * group. Returns nonzero to end the run. */
static __always_inline int next_chain(struct walk *w)
{
	/* The end of a chain is its bucket's number: another number means a
	 * socket moved to another chain while we stood on it (freed and
	 * reused under RCU), so a few sockets may be counted twice or missed,
	 * as in any dump of a busy table. */
	if (w->started && !w->listening && (w->node >> 1) != w->bucket)
		info_add(TCPD_WALK_MOVED, 1);
	w->started = 1;
	if (w->sockets >= w->budget || w->next_bucket >= w->end)
		return 1;
	w->bucket = w->next_bucket++;
	w->chain_len = 0;
	if (!w->grouped) {
		if (bpf_probe_read_kernel(&w->node, sizeof(w->node),
					  (void *)(w->table + w->bucket * w->stride + w->head_off)))
			goto unreadable;
		return 0;
	}
	__u64 at = w->bucket - w->first;
	if (at % TCPD_GROUP == 0) {
		__u64 n = w->end - w->bucket;
		if (n > TCPD_GROUP)
			n = TCPD_GROUP;
		if (bpf_probe_read_kernel(tcpd_heads, n * sizeof(__u64),
					  (void *)(w->table + w->bucket * sizeof(__u64))))
			goto unreadable;
	}
	w->node = tcpd_heads[at % TCPD_GROUP];
	/* An empty bucket's head is its own end: skip those of this group
	 * here rather than a step each. */
	for (__u32 k = 1; k < TCPD_GROUP && (w->node & 1); k++) {
		at = w->next_bucket - w->first;
		if (w->next_bucket >= w->end || at % TCPD_GROUP == 0)
			break;
		w->bucket = w->next_bucket++;
		w->node = tcpd_heads[at % TCPD_GROUP];
	}
	return 0;
unreadable:
	info_add(TCPD_WALK_UNREADABLE, 1);
	w->next_bucket = w->bucket; /* not walked */
	return 1;
}

/* Counts the socket whose chain link is w->node and steps to the next. */
static __always_inline int count_socket(struct walk *w)
{
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
	__u64 sk = w->node - link_off;
	__u8 *head = (__u8 *)tcpd_sock_head;
	__u64 len = link_off + sizeof(__u64);
	if (len > sizeof(tcpd_sock_head) || net_off + 8 > len || state_off >= len ||
	    family_off + 2 > len || bpf_probe_read_kernel(head, len, (void *)sk)) {
		info_add(TCPD_WALK_UNREADABLE, 1);
		return 1;
	}
	if (++w->chain_len > TCPD_CHAIN_MAX) {
		info_add(TCPD_WALK_LONG_CHAINS, 1);
		return 1;
	}
	w->node = *(__u64 *)(head + link_off);
	w->sockets++;
	if (*(__u64 *)(head + net_off) != w->net)
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

/* The walk's state, a global too: the verifier tracks what a callback
 * finds on its caller's stack exactly, so a counter there made every step
 * a new state to verify; a map value's contents are just numbers. */
struct walk tcpd_state;

static long step(__u32 i, void *unused)
{
	struct walk *w = &tcpd_state;
	if (w->node & 1)
		return next_chain(w);
	return count_socket(w);
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

	struct walk *w = &tcpd_state;
	__builtin_memset(w, 0, sizeof(*w));
	w->net = (__u64)net;
	w->first = ctx[1];
	w->next_bucket = ctx[1];
	w->node = 1;
	w->budget = ctx[3];
	__u64 size;
	if (ctx[0] == 0) {
		w->table = (__u64)BPF_CORE_READ(h, ehash);
		w->stride = bpf_core_type_size(struct inet_ehash_bucket);
		w->head_off = bpf_core_field_offset(struct inet_ehash_bucket, chain);
		w->grouped = w->stride == sizeof(__u64) && w->head_off == 0;
		size = ehash_buckets;
	} else {
		w->table = (__u64)BPF_CORE_READ(h, lhash2);
		w->stride = bpf_core_type_size(struct inet_listen_hashbucket);
		w->head_off = bpf_core_field_offset(struct inet_listen_hashbucket, nulls_head);
		w->listening = 1;
		size = lhash_buckets;
	}
	if (!w->table || w->first >= size)
		return 0;
	__u64 n = ctx[2];
	if (n > size - w->first)
		n = size - w->first;
	w->end = w->first + n;
	/* Every bucket and socket of the run is one step, and a run stops only
	 * at the end of a chain: enough steps for the buckets, the budget and
	 * one longest chain. bpf_loop allows 1 << 23. */
	__u64 steps = n + w->budget + TCPD_CHAIN_MAX + 2;
	if (steps > (1 << 23))
		steps = 1 << 23;
	bpf_loop(steps, step, NULL, 0);
	return w->next_bucket - w->first;
}
