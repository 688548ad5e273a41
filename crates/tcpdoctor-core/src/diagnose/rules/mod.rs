//! The rule registry: one file per rule, one line here per rule.

mod accept_queue_overflow;
mod close_wait_growing;
pub(super) mod close_wait_leak;
mod fd_exhaustion;
pub(super) mod fin_wait2_orphans;
mod orphan_limit;
pub(super) mod port_exhaustion;
pub(super) mod syn_backlog;
mod sysctl_fin_timeout;
mod sysctl_max_tw_buckets;
mod sysctl_port_range;
mod sysctl_syncookies;
mod sysctl_tw_recycle;
mod sysctl_tw_reuse_inbound;
mod sysctl_tw_reuse_no_timestamps;
mod time_wait_client_churn;
pub(super) mod time_wait_server_close;
mod tw_bucket_overflow;

use super::{Rule, RuleDoc};

/// Every rule, in the order docs/rules.md lists them.
pub static ALL: &[&dyn Rule] = &[
    &close_wait_leak::CloseWaitLeak,
    &close_wait_growing::CloseWaitGrowing,
    &fd_exhaustion::FdExhaustion,
    &port_exhaustion::PortExhaustion,
    &time_wait_server_close::TimeWaitServerClose,
    &time_wait_client_churn::TimeWaitClientChurn,
    &tw_bucket_overflow::TwBucketOverflow,
    &fin_wait2_orphans::FinWait2Orphans,
    &orphan_limit::OrphanLimit,
    &accept_queue_overflow::AcceptQueueOverflow,
    &syn_backlog::SynBacklog,
    &sysctl_tw_recycle::SysctlTwRecycle,
    &sysctl_fin_timeout::SysctlFinTimeout,
    &sysctl_max_tw_buckets::SysctlMaxTwBuckets,
    &sysctl_tw_reuse_inbound::SysctlTwReuseInbound,
    &sysctl_tw_reuse_no_timestamps::SysctlTwReuseNoTimestamps,
    &sysctl_port_range::SysctlPortRange,
    &sysctl_syncookies::SysctlSyncookies,
];

/// A rule's documentation by id.
pub(super) fn doc(id: &str) -> Option<&'static RuleDoc> {
    ALL.iter().map(|r| r.doc()).find(|d| d.id == id)
}
