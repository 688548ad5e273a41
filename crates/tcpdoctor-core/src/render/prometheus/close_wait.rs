//! CLOSE_WAIT sockets per owning process: the peer closed and the process
//! has not, so this names the process that leaks.

use super::{Collector, Input, Writer, cap, comm};
use crate::model::{Snapshot, SocketRow, TcpState};
use std::collections::BTreeMap;

/// One namespace's CLOSE_WAIT sockets per name of their first owner, the
/// `top` largest then "other": (netns, process, count).
pub(super) fn per_process(
    snap: &Snapshot,
    ns: &str,
    rows: &[SocketRow<'_>],
    top: usize,
) -> impl Iterator<Item = (String, String, u64)> {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.socket.state == TcpState::CloseWait)
    {
        let who = r
            .owners
            .first()
            .map_or_else(|| "unknown".to_string(), |o| comm(snap, o.pid));
        *counts.entry(who).or_insert(0) += 1;
    }
    let ns = ns.to_string();
    cap(counts, top, "other".into())
        .into_iter()
        .map(move |(p, n)| (ns.clone(), p, n))
}

/// `tcpdoctor_close_wait_sockets`.
pub(super) struct CloseWait;

impl Collector for CloseWait {
    fn collect(&self, input: &Input<'_>, out: &mut Writer<'_>) {
        let mut f = out.gauge(
            "tcpdoctor_close_wait_sockets",
            "CLOSE_WAIT sockets per owning process name (top N, then other).",
        );
        for (ns, p, n) in &input.full.close_wait {
            f.sample(&[("netns", ns), ("process", p)], *n as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::FullMetrics;
    use super::super::tests::{input_of, written};
    use super::*;
    use crate::model::{FdRef, LikelyOwners, Process, Socket};

    #[test]
    fn counts_per_owner_name_capped_and_written() {
        let mut snap = Snapshot::default();
        for (pid, comm) in [(1, "app"), (2, "db")] {
            let p = Process {
                pid,
                comm: comm.into(),
                ..Process::default()
            };
            snap.owners.processes.insert(pid, p);
        }
        let ep = |s: &str| s.parse().expect("endpoint");
        let sock = Socket::new(TcpState::CloseWait, ep("10.0.0.1:80"), ep("10.0.0.2:9"));
        let other = Socket::new(TcpState::Established, ep("10.0.0.1:80"), ep("10.0.0.2:8"));
        let held = |pid| [FdRef { pid, fd: 3 }];
        let (app, db, unknown) = (held(1), held(2), held(9));
        let row = |socket, owners| SocketRow {
            socket,
            netns: None,
            age_s: None,
            owners,
            likely_owners: LikelyOwners::new(),
            closed_by: None,
            side: None,
        };
        let rows = [
            row(&sock, &app[..]),
            row(&sock, &app[..]),
            row(&sock, &db[..]),
            row(&sock, &unknown[..]),
            row(&sock, &[][..]),
            row(&other, &app[..]),
        ];
        let counts: Vec<_> = per_process(&snap, "web", &rows, 2).collect();
        let expect = [("app", 2), ("unknown", 2), ("other", 1)];
        let expect: Vec<_> = expect
            .iter()
            .map(|(p, n)| ("web".to_string(), p.to_string(), *n))
            .collect();
        assert_eq!(counts, expect);
        let full = FullMetrics {
            close_wait: counts,
            ..FullMetrics::default()
        };
        let text = written(&CloseWait, &input_of(&full));
        assert!(text.contains("tcpdoctor_close_wait_sockets{netns=\"web\",process=\"app\"} 2\n"));
        assert_eq!(text.lines().count(), 5);
    }
}
