// SPDX-License-Identifier: GPL-2.0 OR MIT
/* The census counted in the kernel: iter/tcp over the network namespace of
 * the thread that created the iterator. */
#include "common.h"
#include "census_counts.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Counting only: when the seq buffer fills, the kernel shows the same
 * socket again, so a program that wrote output would count it twice. */
SEC("iter/tcp")
int count_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	if (!skc)
		return 0;
	__u8 state = skc->skc_state;
	if (state == TCP_TIME_WAIT) {
		/* sock_diag reports a timewait socket's substate (FIN_WAIT2 for
		 * an orphan whose FIN_WAIT2 the minisocket carries). */
		struct inet_timewait_sock *tw = (void *)skc;
		state = BPF_CORE_READ(tw, tw_substate);
	} else if (state == TCP_NEW_SYN_RECV) {
		state = TCP_SYN_RECV;
	}
	__u32 fam = skc->skc_family == AF_INET6 ? 1 : 0;
	if (state >= TCPD_STATES)
		state = 0;
	__u32 i = fam * TCPD_STATES + state;
	__u64 *n = bpf_map_lookup_elem(&tcpd_counts, &i);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

