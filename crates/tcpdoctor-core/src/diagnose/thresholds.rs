//! The numbers at which rules speak up. Every one is a flag of `diagnose`
//! with the default here; docs/rules.md lists them per rule.

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Thresholds {
    /// CLOSE_WAIT sockets per process for a warning (x10: critical).
    pub close_wait_count: u64,
    /// Age in seconds of a process's oldest CLOSE_WAIT for a warning
    /// (x60: critical).
    pub close_wait_age_s: f64,
    /// Share of RLIMIT_NOFILE (and of fs.file-max) in use for a warning.
    pub fd_warn: f64,
    /// ... and for critical.
    pub fd_crit: f64,
    /// Share of the usable ephemeral ports one (local IP, remote IP,
    /// remote port) holds, for a warning.
    pub port_warn: f64,
    /// ... and for critical.
    pub port_crit: f64,
    /// Outbound TIME_WAIT toward one upstream for a warning.
    pub time_wait_churn: u64,
    /// TIME_WAIT on one listening port, or toward one upstream, worth an
    /// info finding.
    pub time_wait_info: u64,
    /// Orphaned FIN_WAIT2 sockets for a warning.
    pub fin_wait2_count: u64,
    /// Share of tcp_max_orphans in use for a warning (critical at 0.8).
    pub orphan_warn: f64,
    /// Share of tcp_max_syn_backlog in SYN_RECV for a warning.
    pub syn_backlog_warn: f64,
    /// Share of tcp_max_tw_buckets in TIME_WAIT for a warning.
    pub tw_bucket_warn: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            close_wait_count: 100,
            close_wait_age_s: 60.0,
            fd_warn: 0.80,
            fd_crit: 0.95,
            port_warn: 0.50,
            port_crit: 0.80,
            time_wait_churn: 1000,
            time_wait_info: 100,
            fin_wait2_count: 1000,
            orphan_warn: 0.50,
            syn_backlog_warn: 0.80,
            tw_bucket_warn: 0.90,
        }
    }
}
