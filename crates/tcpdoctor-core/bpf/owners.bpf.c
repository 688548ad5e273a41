// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Owners without reading /proc: iter/task_file, one record per open fd. */
#include "common.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

SEC("iter/task_file")
int socket_files(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	if (!task || !file)
		return 0;
	/* A thread with its own fd table is not what /proc/PID/fd shows. */
	if (task->pid != task->tgid)
		return 0;
	struct tcpd_fd_record rec = {};
	rec.pid = pid_in_reader_ns(task);
	rec.fd = ctx->fd;
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	if (inode && (BPF_CORE_READ(inode, i_mode) & S_IFMT) == S_IFSOCK)
		rec.inode = BPF_CORE_READ(inode, i_ino);
	/* No state is kept across calls, so showing a record twice when the
	 * buffer fills changes nothing. */
	bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
	return 0;
}

