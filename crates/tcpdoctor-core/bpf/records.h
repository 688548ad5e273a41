/* Records shared by the programs (*.bpf.c) and their readers in
 * src/collect/bpf/. Each struct here has a #[repr(C)] mirror of the same name
 * in src/collect/bpf/records.rs (records::tcpd_closer, records::tcpd_event,
 * ...), and the enum and #defines are constants there; the programs'
 * read-only globals (common.h) are records::rodata. Change both together,
 * then run build.sh: records.rs's tests check every field's name, offset and
 * size against this file and against the committed objects' BTF. */
#ifndef TCPDOCTOR_BPF_H
#define TCPDOCTOR_BPF_H

#define TCPD_FAMILIES 2
#define TCPD_STATES 16
#define TCPD_CLOSERS_MAX 262144
#define TCPD_SIDE_FIRST 1
#define TCPD_SIDE_LAST 2
#define TCPD_OPENED_CONNECTED 1
#define TCPD_OPENED_ACCEPTED 2
#define TCPD_OPEN_GROUPS_MAX 16384

/* Slots of the hash walk's tcpd_walk map. */
enum tcpd_walk_info {
	TCPD_WALK_EHASH_BUCKETS,
	TCPD_WALK_LHASH_BUCKETS,
	TCPD_WALK_MOVED,
	TCPD_WALK_LONG_CHAINS,
	TCPD_WALK_UNREADABLE,
	TCPD_WALK_INFO,
};

/* What the fd-table pass emits (tcpd_fd_record.kind). */
#define TCPD_FD_TCP 1   /* a TCP socket's fd, with the socket */
#define TCPD_FD_COUNT 2 /* a process's number of open fds, in fd */

/* A TCP socket's fd with the socket as the pass saw it, or (kind
 * TCPD_FD_COUNT) how many fds a process has open. 72 bytes. */
struct tcpd_fd_record {
	__u32 pid;
	__u32 fd;
	__u64 inode;
	__u64 cookie;
	__u32 netns;
	__u16 family;
	__u8 state;
	__u8 kind;
	__u16 sport;
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 pad;
};

/* Who closed a connection. 40 bytes. */
struct tcpd_closer {
	__u64 ts_ns;
	__u64 cgroup_id;
	__u32 pid;
	__u8 side;
	__u8 pad;
	__u16 sport; /* the local port: at CLOSE the kernel has zeroed it */
	char comm[16];
};

/* The end of a connection. 112 bytes. */
struct tcpd_event {
	__u64 ts_ns;
	__u64 cookie;
	__u64 lifetime_ns;
	struct tcpd_closer closer;
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u8 oldstate;
	__u8 opened; /* TCPD_OPENED_*, 0 when established before tracing */
	__u32 netns;
	__u8 peer_fin; /* the peer's FIN had arrived (SOCK_DONE) */
	__u8 pad[3];
};

/* What the tracer keeps with each socket (socket-local storage): when and
 * how it was established, and who closed it. 56 bytes. */
struct tcpd_conn {
	__u64 born_ns;
	struct tcpd_closer closer;
	__u32 dir;
	__u16 sport;
	__u16 pad;
};

/* A group of opened connections: remote ip:port of a connect, or the local
 * ip:port of an accept (the address it arrived at). 28 bytes. */
struct tcpd_open_key {
	__u8 addr[16];
	__u32 netns;
	__u16 port;
	__u16 family;
	__u8 dir;
	__u8 pad[3];
};

/* The context of the hash walk's runs (BPF_PROG_TEST_RUN), as userspace
 * fills it: walk.bpf.c reads it as __u64 ctx[4], ctx[0] the table (0:
 * established, 1: listening), ctx[1] the first bucket, ctx[2] at most how
 * many buckets, ctx[3] after how many sockets to stop. 32 bytes. */
struct tcpd_walk_args {
	__u64 table;
	__u64 first;
	__u64 buckets;
	__u64 budget;
};

#endif
