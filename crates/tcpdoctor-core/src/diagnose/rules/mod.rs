//! The rule registry: one file per rule, one line here per rule.

pub mod accept_queue_overflow;
pub mod close_wait_leak;
pub mod fd_exhaustion;
pub mod fin_wait2_orphans;
pub mod orphan_limit;
pub mod port_exhaustion;
pub mod syn_backlog;
pub mod sysctl_fin_timeout;
pub mod sysctl_max_tw_buckets;
pub mod sysctl_port_range;
pub mod sysctl_syncookies;
pub mod sysctl_tw_recycle;
pub mod sysctl_tw_reuse_inbound;
pub mod sysctl_tw_reuse_no_timestamps;
pub mod time_wait_client_churn;
pub mod time_wait_server_close;
pub mod tw_bucket_overflow;

use super::{Rule, RuleDoc};

/// Every rule, in the order docs/rules.md lists them.
pub static ALL: &[&dyn Rule] = &[
    &close_wait_leak::Rule,
    &fd_exhaustion::Rule,
    &port_exhaustion::Rule,
    &time_wait_server_close::Rule,
    &time_wait_client_churn::Rule,
    &tw_bucket_overflow::Rule,
    &fin_wait2_orphans::Rule,
    &orphan_limit::Rule,
    &accept_queue_overflow::Rule,
    &syn_backlog::Rule,
    &sysctl_tw_recycle::Rule,
    &sysctl_fin_timeout::Rule,
    &sysctl_max_tw_buckets::Rule,
    &sysctl_tw_reuse_inbound::Rule,
    &sysctl_tw_reuse_no_timestamps::Rule,
    &sysctl_port_range::Rule,
    &sysctl_syncookies::Rule,
];

/// A rule's documentation by id.
pub fn doc(id: &str) -> Option<&'static RuleDoc> {
    ALL.iter().map(|r| r.doc()).find(|d| d.id == id)
}
