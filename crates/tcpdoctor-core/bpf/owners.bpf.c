// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Owners in one pass, without reading /proc: iter/task_file reads each
 * socket file's socket itself and emits one record per TCP socket fd (the
 * socket's state, addresses, cookie and namespace with its holder), and
 * one count of open fds per process. A connection that exists during the
 * pass is owned by whoever holds it: no join with a dump taken at another
 * instant. */
#include "common.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define IPPROTO_TCP 6

/* The process whose fds are being counted, and how many so far. Reset at
 * the first element of each pass; one pass at a time per loaded object
 * (userspace holds a lock). */
__u32 tcpd_cur_pid;
__u32 tcpd_cur_fds;

/* When the buffer fills, seq_file drops everything this call wrote and
 * calls it again for the same fd: so the counters change only after every
 * write of a call succeeded, and a call that is repeated does the same. */
static __always_inline int flush_count(struct seq_file *seq)
{
	struct tcpd_fd_record c = {};
	c.pid = tcpd_cur_pid;
	c.fd = tcpd_cur_fds;
	c.kind = TCPD_FD_COUNT;
	return bpf_seq_write(seq, &c, sizeof(c));
}

/* Fills `rec` from the TCP socket behind `file`; 0 when it is none. */
static __always_inline int read_tcp_socket(struct file *file, struct tcpd_fd_record *rec)
{
	struct inode *inode = file->f_inode;
	if (!inode || (inode->i_mode & S_IFMT) != S_IFSOCK)
		return 0;
	struct socket *sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	struct sock *sk = sock->sk;
	if (!sk)
		return 0;
	const struct sock_common *skc = &sk->__sk_common;
	__u16 family = skc->skc_family;
	if ((family != AF_INET && family != AF_INET6) || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	rec->kind = TCPD_FD_TCP;
	rec->inode = inode->i_ino;
	rec->state = skc->skc_state;
	read_tuple(skc, &rec->family, &rec->sport, &rec->dport, rec->saddr, rec->daddr, &rec->netns);
	/* The cookie sock_diag reports, 0 while nothing asked for one (the
	 * helper that would make it takes no socket read through a file). */
	rec->cookie = BPF_CORE_READ(skc, skc_cookie.counter);
	return 1;
}

SEC("iter/task_file")
int socket_files(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	if (ctx->meta->seq_num == 0) {
		tcpd_cur_pid = 0;
		tcpd_cur_fds = 0;
	}
	/* A thread with its own fd table is not what /proc/PID/fd shows. */
	if (task && task->pid != task->tgid)
		return 0;
	/* 0: a process outside the reader's pid namespace, not reported. */
	__u32 pid = task ? pid_in_reader_ns(task) : 0;
	/* The end of the pass (no task), or another process: the count of
	 * the one before. */
	int other = !task || pid != tcpd_cur_pid;
	if (other && tcpd_cur_pid && flush_count(seq))
		return 0;
	if (!task || !file || !pid) {
		if (other) {
			tcpd_cur_pid = 0;
			tcpd_cur_fds = 0;
		}
		return 0;
	}
	struct tcpd_fd_record rec = {};
	if (read_tcp_socket(file, &rec)) {
		rec.pid = pid;
		rec.fd = ctx->fd;
		if (bpf_seq_write(seq, &rec, sizeof(rec)))
			return 0;
	}
	if (other) {
		tcpd_cur_pid = pid;
		tcpd_cur_fds = 0;
	}
	tcpd_cur_fds++;
	return 0;
}
