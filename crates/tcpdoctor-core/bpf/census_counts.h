/* The census's counts, per family and state as sock_diag reports them:
 * what both census programs (iter/tcp and the hash walk) fill, and what
 * src/collect/bpf/census.rs reads. */
#ifndef TCPDOCTOR_CENSUS_COUNTS_H
#define TCPDOCTOR_CENSUS_COUNTS_H

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TCPD_FAMILIES * TCPD_STATES);
	__type(key, __u32);
	__type(value, __u64);
} tcpd_counts SEC(".maps");

#endif
