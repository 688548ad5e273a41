//! TIME_WAIT sockets per process that closed them, and how that is known:
//! the side that closes first holds TIME_WAIT, so this names who churns.

use super::{Collector, Input, Writer, cap, comm};
use crate::model::{Snapshot, SocketRow, TcpState};
use std::collections::BTreeMap;

/// How the closer of a TIME_WAIT socket is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Attributed {
    /// A tracer saw the close.
    Exact,
    /// Inferred from listeners and connections to the same upstream.
    Likely,
    Unknown,
}

/// One namespace's TIME_WAIT sockets per closer's name and attribution,
/// the `top` largest then "other": (netns, process, how, count).
pub(super) fn per_closer(
    snap: &Snapshot,
    ns: &str,
    rows: &[SocketRow<'_>],
    top: usize,
) -> impl Iterator<Item = (String, String, Attributed, u64)> {
    let mut counts: BTreeMap<(String, Attributed), u64> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.socket.state == TcpState::TimeWait) {
        let who = match (r.closed_by, r.likely_owners.first()) {
            (Some(c), _) => (c.comm.clone(), Attributed::Exact),
            (None, Some(p)) => (comm(snap, *p), Attributed::Likely),
            (None, None) => ("unknown".to_string(), Attributed::Unknown),
        };
        *counts.entry(who).or_insert(0) += 1;
    }
    let ns = ns.to_string();
    cap(counts, top, ("other".into(), Attributed::Unknown))
        .into_iter()
        .map(move |((p, how), n)| (ns.clone(), p, how, n))
}

/// `tcpdoctor_time_wait_sockets`.
pub(super) struct TimeWait;

impl Collector for TimeWait {
    fn collect(&self, input: &Input<'_>, out: &mut Writer<'_>) {
        let mut f = out.gauge(
            "tcpdoctor_time_wait_sockets",
            "TIME_WAIT sockets per name of the process that closed them (top N, then other): \
                exact=true when a tracer saw the close (serve --trace), likely=true when inferred.",
        );
        let yes = |b: bool| if b { "true" } else { "false" };
        for (ns, p, how, n) in &input.full.time_wait {
            f.sample(
                &[
                    ("netns", ns),
                    ("process", p),
                    ("likely", yes(*how == Attributed::Likely)),
                    ("exact", yes(*how == Attributed::Exact)),
                ],
                *n as f64,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::FullMetrics;
    use super::super::tests::{input_of, written};
    use super::*;
    use crate::model::{CloseOrder, Closer, LikelyOwners, Process, Socket};

    #[test]
    fn exact_closers_win_over_likely_ones_and_both_are_labelled() {
        let mut snap = Snapshot::default();
        let p = Process {
            pid: 4,
            comm: "worker".into(),
            ..Process::default()
        };
        snap.owners.processes.insert(4, p);
        let ep = |s: &str| s.parse().expect("endpoint");
        let tw = Socket::new(
            TcpState::TimeWait,
            ep("10.0.0.1:40000"),
            ep("10.0.0.9:5432"),
        );
        let closer = Closer {
            pid: 5,
            comm: "curl".into(),
            cgroup: None,
            order: CloseOrder::First,
            closed_s_ago: 0.0,
        };
        let row = |likely: &[u32], closed_by| SocketRow {
            socket: &tw,
            netns: None,
            age_s: None,
            owners: &[],
            likely_owners: LikelyOwners::from_slice(likely),
            closed_by,
            side: None,
        };
        let rows = [
            row(&[4], None),
            row(&[4], None),
            row(&[4], Some(&closer)),
            row(&[], None),
        ];
        let counts: Vec<_> = per_closer(&snap, "", &rows, 10).collect();
        let at = |p: &str, how, n| (String::new(), p.to_string(), how, n);
        assert_eq!(
            counts,
            vec![
                at("worker", Attributed::Likely, 2),
                at("curl", Attributed::Exact, 1),
                at("unknown", Attributed::Unknown, 1),
            ]
        );
        let full = FullMetrics {
            time_wait: counts,
            ..FullMetrics::default()
        };
        let text = written(&TimeWait, &input_of(&full));
        assert!(text.contains(
            "tcpdoctor_time_wait_sockets{netns=\"\",process=\"curl\",likely=\"false\",\
             exact=\"true\"} 1\n"
        ));
        assert!(text.contains("process=\"worker\",likely=\"true\",exact=\"false\"} 2\n"));
    }
}
