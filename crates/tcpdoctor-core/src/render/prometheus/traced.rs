//! Connection ends seen by `serve --trace`'s tracer, per closing process
//! and how they ended: exact where the socket tables can only infer.

use super::{Collector, Input, Writer};
use crate::model::{ConnectionEnd, EndKind};
use std::collections::{BTreeMap, BTreeSet};

/// Connection ends seen by `serve --trace`'s tracer since it started:
/// (namespace label, empty when one is served; process that closed; how
/// it ended) -> count, and the ends lost.
#[derive(Clone, Debug, Default)]
pub(crate) struct TracedEnds {
    pub by_closer: BTreeMap<(String, String, EndKind), u64>,
    pub lost: u64,
}

impl TracedEnds {
    /// Distinct process names kept before the rest count as "other".
    const MAX_PROCESSES: usize = 100;

    pub(crate) fn add(&mut self, e: &ConnectionEnd, netns: &str) {
        let mut who = e
            .closer
            .as_ref()
            .map_or_else(|| "unknown".to_string(), |c| c.comm.clone());
        let known = self.by_closer.keys().any(|(_, p, _)| *p == who);
        if !known {
            let distinct: BTreeSet<&String> = self.by_closer.keys().map(|(_, p, _)| p).collect();
            if distinct.len() >= Self::MAX_PROCESSES {
                who = "other".into();
            }
        }
        *self
            .by_closer
            .entry((netns.to_string(), who, e.end))
            .or_insert(0) += 1;
    }
}

/// `tcpdoctor_connection_ends_total` and
/// `tcpdoctor_connection_ends_lost_total`, when a tracer runs.
pub(super) struct ConnectionEnds;

impl Collector for ConnectionEnds {
    fn collect(&self, input: &Input<'_>, out: &mut Writer<'_>) {
        let Some(t) = input.traced else {
            return;
        };
        {
            let mut f = out.counter(
                "tcpdoctor_connection_ends_total",
                "Connections ended since the tracer started, per name of the process that closed \
                    them (exact, from the kernel) and how they ended: closed_first (TIME_WAIT on \
                    this host), closed_first_peer_open (a FIN_WAIT2 orphan here: the peer had \
                    not closed), closed_last (the peer's TIME_WAIT), reset.",
            );
            for ((ns, p, end), n) in &t.by_closer {
                let end = match end {
                    EndKind::ClosedFirst => "closed_first",
                    EndKind::ClosedFirstPeerOpen => "closed_first_peer_open",
                    EndKind::ClosedLast => "closed_last",
                    EndKind::Reset => "reset",
                };
                if ns.is_empty() {
                    f.sample(&[("process", p), ("end", end)], *n as f64);
                } else {
                    f.sample(&[("netns", ns), ("process", p), ("end", end)], *n as f64);
                }
            }
        }
        out.counter(
            "tcpdoctor_connection_ends_lost_total",
            "Connection ends the tracer missed: its ring was full, or the kernel skipped its \
             program (recursion_misses).",
        )
        .sample(&[], t.lost as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::super::FullMetrics;
    use super::super::tests::{input_of, written};
    use super::*;
    use crate::model::{CloseOrder, Closer};

    #[test]
    fn ends_are_counted_per_closer_and_written_only_while_tracing() {
        let mut t = TracedEnds::default();
        t.by_closer
            .insert((String::new(), "curl".into(), EndKind::ClosedFirst), 3);
        t.by_closer
            .insert((String::new(), "nginx".into(), EndKind::Reset), 1);
        t.by_closer
            .insert(("web".into(), "nginx".into(), EndKind::Reset), 4);
        t.lost = 2;
        let full = FullMetrics::default();
        let input = Input {
            traced: Some(&t),
            ..input_of(&full)
        };
        let text = written(&ConnectionEnds, &input);
        for line in [
            "# TYPE tcpdoctor_connection_ends_total counter\n",
            "tcpdoctor_connection_ends_total{process=\"curl\",end=\"closed_first\"} 3\n",
            "tcpdoctor_connection_ends_total{process=\"nginx\",end=\"reset\"} 1\n",
            // With several namespaces served, each end names its own.
            "tcpdoctor_connection_ends_total{netns=\"web\",process=\"nginx\",end=\"reset\"} 4\n",
            "tcpdoctor_connection_ends_lost_total 2\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert_eq!(written(&ConnectionEnds, &input_of(&full)), "");
    }

    #[test]
    fn closers_past_the_limit_count_as_other() {
        let ep = "10.0.0.1:1".parse().expect("endpoint");
        let end = |comm: Option<String>, end| ConnectionEnd {
            at_unix_s: 0.0,
            netns: 0,
            local: ep,
            remote: ep,
            end,
            closer: comm.map(|comm| Closer {
                pid: 1,
                comm,
                cgroup: None,
                order: CloseOrder::First,
                closed_s_ago: 0.0,
            }),
            opened: None,
            lifetime_s: None,
            cookie: 0,
        };
        let mut t = TracedEnds::default();
        t.add(&end(None, EndKind::Reset), "");
        for i in 1..TracedEnds::MAX_PROCESSES {
            t.add(&end(Some(format!("p{i}")), EndKind::ClosedFirst), "");
        }
        t.add(&end(Some("p1".into()), EndKind::ClosedFirst), "");
        t.add(&end(Some("late".into()), EndKind::ClosedLast), "");
        let key = |p: &str, e| (String::new(), p.to_string(), e);
        assert_eq!(t.by_closer[&key("unknown", EndKind::Reset)], 1);
        assert_eq!(t.by_closer[&key("p1", EndKind::ClosedFirst)], 2);
        assert_eq!(t.by_closer[&key("other", EndKind::ClosedLast)], 1);
        assert!(!t.by_closer.keys().any(|(_, p, _)| p == "late"));
    }
}
