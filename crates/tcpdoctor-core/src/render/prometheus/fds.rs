//! File descriptors in use per process, against RLIMIT_NOFILE: a process
//! that leaks sockets fails with "Too many open files" at 1.

use super::{Collector, Input, Writer};
use crate::model::Snapshot;

/// The `top` processes nearest their RLIMIT_NOFILE, nearest first (then
/// by pid): (process, pid, ratio). Unlimited or unknown limits are left
/// out.
pub(super) fn highest(snap: &Snapshot, top: usize) -> Vec<(String, u32, f64)> {
    let mut fds: Vec<(String, u32, f64)> = snap
        .owners
        .processes
        .values()
        .filter_map(|p| {
            Some((
                p.comm.clone(),
                p.pid,
                f64::from(p.fd_count) / p.nofile_soft.filter(|n| *n > 0)? as f64,
            ))
        })
        .collect();
    fds.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.1.cmp(&b.1)));
    fds.truncate(top);
    fds
}

/// `tcpdoctor_process_fd_utilization_ratio`.
pub(super) struct FdUtilization;

impl Collector for FdUtilization {
    fn collect(&self, input: &Input<'_>, out: &mut Writer<'_>) {
        out.process_gauge(
            "tcpdoctor_process_fd_utilization_ratio",
            "Open fds over RLIMIT_NOFILE for processes holding TCP sockets (top N).",
            &input.full.fd_utilization,
            |r| r,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::FullMetrics;
    use super::super::tests::{input_of, written};
    use super::*;
    use crate::model::Process;

    #[test]
    fn the_nearest_to_their_limit_come_first_and_unlimited_ones_not_at_all() {
        let mut snap = Snapshot::default();
        for (pid, fds, limit) in [(1, 10, Some(100)), (2, 50, Some(100)), (3, 9, None)] {
            let p = Process {
                pid,
                comm: format!("p{pid}"),
                fd_count: fds,
                nofile_soft: limit,
                ..Process::default()
            };
            snap.owners.processes.insert(pid, p);
        }
        let zero = Process {
            pid: 4,
            nofile_soft: Some(0),
            ..Process::default()
        };
        snap.owners.processes.insert(4, zero);
        let top = highest(&snap, 5);
        assert_eq!(top, vec![("p2".into(), 2, 0.5), ("p1".into(), 1, 0.1)]);
        assert_eq!(highest(&snap, 1).len(), 1);
        let full = FullMetrics {
            fd_utilization: top,
            ..FullMetrics::default()
        };
        let text = written(&FdUtilization, &input_of(&full));
        assert!(
            text.contains("tcpdoctor_process_fd_utilization_ratio{process=\"p2\",pid=\"2\"} 0.5\n")
        );
    }
}
