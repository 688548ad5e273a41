/* What the three programs share: includes, constants, the pid of a task
 * as the reader's pid namespace numbers it. */
#ifndef TCPDOCTOR_COMMON_H
#define TCPDOCTOR_COMMON_H
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "records.h"

#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000

enum {
	TCP_ESTABLISHED = 1,
	TCP_SYN_SENT = 2,
	TCP_SYN_RECV = 3,
	TCP_FIN_WAIT1 = 4,
	TCP_FIN_WAIT2 = 5,
	TCP_TIME_WAIT = 6,
	TCP_CLOSE = 7,
	TCP_CLOSE_WAIT = 8,
	TCP_LAST_ACK = 9,
	TCP_LISTEN = 10,
	TCP_CLOSING = 11,
	TCP_NEW_SYN_RECV = 12,
};

/* The inode of the pid namespace whose numbers the reader's /proc shows,
 * set before load: pids are reported as that /proc numbers them, not as
 * the host does (0: report the host's). */
const volatile __u32 reader_pidns_ino = 0;

/* A pid namespace nests at most 32 deep; 8 covers containers in containers. */
#define TCPD_PIDNS_DEPTH 8

static __always_inline __u32 pid_in_reader_ns(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, group_leader, thread_pid);
	__u32 want = reader_pidns_ino;

	if (!pid)
		return 0;
	if (!want)
		return BPF_CORE_READ(task, tgid);
	__u32 level = BPF_CORE_READ(pid, level);
	__u64 base = bpf_core_field_offset(struct pid, numbers);
	__u64 size = bpf_core_type_size(struct upid);
	__u32 found = 0;
#pragma unroll
	for (__u32 i = 0; i < TCPD_PIDNS_DEPTH; i++) {
		struct upid up = {};
		if (i <= level && !found) {
			bpf_probe_read_kernel(&up, sizeof(up), (char *)pid + base + i * size);
			if (up.ns && BPF_CORE_READ(up.ns, ns.inum) == want)
				found = up.nr;
		}
	}
	return found;
}

/* A socket's family, ports and addresses (16 bytes each, the first 4 for
 * IPv4; the remote port in host order) and its network namespace. */
static __always_inline void read_tuple(const struct sock_common *skc, __u16 *family, __u16 *sport,
				       __u16 *dport, __u8 *saddr, __u8 *daddr, __u32 *netns)
{
	*family = skc->skc_family;
	*sport = skc->skc_num;
	*dport = __builtin_bswap16(skc->skc_dport);
	if (*family == AF_INET6) {
		BPF_CORE_READ_INTO((__u8(*)[16])saddr, skc, skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO((__u8(*)[16])daddr, skc, skc_v6_daddr.in6_u.u6_addr8);
	} else {
		__u32 s = skc->skc_rcv_saddr, d = skc->skc_daddr;
		__builtin_memcpy(saddr, &s, 4);
		__builtin_memcpy(daddr, &d, 4);
	}
	*netns = BPF_CORE_READ(skc, skc_net.net, ns.inum);
}

#endif
