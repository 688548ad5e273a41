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

/* The pid namespace level of the reader, set before load: pids are
 * reported as the reader's /proc shows them, not as the host sees them. */
const volatile __u32 reader_pidns_level = 0;

static __always_inline __u32 pid_in_reader_ns(struct task_struct *task)
{
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	struct pid *pid = BPF_CORE_READ(leader, thread_pid);
	__u32 level = reader_pidns_level;
	struct upid up = {};

	if (!pid || BPF_CORE_READ(pid, level) < level)
		return 0;
	__u64 off = bpf_core_field_offset(struct pid, numbers) +
		    (__u64)level * bpf_core_type_size(struct upid);
	bpf_probe_read_kernel(&up, sizeof(up), (char *)pid + off);
	return up.nr;
}

#endif
