//! What `tcpdoctor trace` sums up on exit: per upstream (remote ip:port
//! this host connects to) and per listening port, the connections opened
//! and ended, who closed them and on which side TIME_WAIT was made. Memory
//! is bounded by `TraceTally::MAX_GROUPS`, however long the trace runs.

use super::{Closer, ConnectionEnd, EndKind, Endpoint, Opened};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Connections opened in one group while tracing, counted in the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenCount {
    pub netns: u64,
    pub opened: Opened,
    /// The upstream of connects; for accepts, the local address and port
    /// they arrived at.
    pub endpoint: Endpoint,
    pub count: u64,
}

#[derive(Clone, Debug, Default)]
struct GroupTally {
    ended: u64,
    resets: u64,
    /// Who closed first (TIME_WAIT here).
    closed_first: Closers,
    /// Who closed first while the peer had not closed (FIN_WAIT2 orphans
    /// here, not TIME_WAIT).
    closed_first_peer_open: Closers,
    /// Who closed after the peer did.
    closed_last: Closers,
}

/// Ends per closing process name, with the pids that closed them: a
/// client run once per request (curl in a loop) is one name with many
/// pids, not a list of pids each seen once.
#[derive(Clone, Debug, Default)]
struct Closers {
    /// comm -> (ends, the distinct pids seen, at most `MAX_PIDS`).
    by_comm: BTreeMap<String, (u64, BTreeSet<u32>)>,
}

impl Closers {
    /// Pids remembered per name; more are counted as "N+ pids".
    const MAX_PIDS: usize = 1000;

    fn add(&mut self, closer: Option<&Closer>) {
        let Some(c) = closer else {
            self.by_comm.entry(NOT_SEEN.to_string()).or_default().0 += 1;
            return;
        };
        let (n, pids) = self.by_comm.entry(c.comm.clone()).or_default();
        *n += 1;
        if pids.len() < Self::MAX_PIDS {
            pids.insert(c.pid);
        }
    }

    /// "pid/comm" for one process, "comm (N pids)" for several; the most
    /// ends first.
    fn sorted(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .by_comm
            .iter()
            .map(|(comm, (n, pids))| {
                let label = match pids.len() {
                    0 => comm.clone(),
                    1 => format!("{}/{comm}", pids.iter().next().copied().unwrap_or(0)),
                    k if k >= Self::MAX_PIDS => format!("{comm} ({k}+ pids)"),
                    k => format!("{comm} ({k} pids)"),
                };
                (label, *n)
            })
            .collect();
        v.sort_by_key(|(k, n)| (std::cmp::Reverse(*n), k.clone()));
        v
    }
}

/// The closer of an end whose close the tracer did not see.
const NOT_SEEN: &str = "(close not seen)";

/// The key a group is known by: namespace, kind, endpoint.
type GroupKey = (u64, Opened, Endpoint);

/// Running sums over connection ends.
#[derive(Clone, Debug, Default)]
pub(crate) struct TraceTally {
    groups: HashMap<GroupKey, GroupTally>,
    pub ends: u64,
    /// Ends not grouped because `MAX_GROUPS` were already kept.
    pub ungrouped: u64,
}

/// One group in the summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupSummary {
    pub netns: u64,
    pub endpoint: Endpoint,
    /// Connections opened while tracing (counted in the kernel).
    pub opened: u64,
    pub opens_per_s: f64,
    pub ended: u64,
    /// Who closed first, making TIME_WAIT on this host: "pid/comm" (or
    /// "comm (N pids)" for a name many processes had) -> n.
    pub time_wait_made_by: Vec<(String, u64)>,
    /// Who closed first before the peer had closed: FIN_WAIT2 orphans
    /// on this host, not TIME_WAIT (the peer never answered the FIN).
    pub fin_wait2_made_by: Vec<(String, u64)>,
    /// Who closed after the peer did (the peer made the TIME_WAIT).
    pub closed_after_peer_by: Vec<(String, u64)>,
    pub resets: u64,
}

/// The summary at the end of a trace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceSummary {
    /// The measured length of the trace, which every rate is over.
    pub window_s: f64,
    pub ends: u64,
    /// Ends the kernel had no room to report (the reader fell behind).
    pub lost: u64,
    /// Where this host connects to, most connections first.
    pub upstreams: Vec<GroupSummary>,
    /// Where this host accepts, most connections first.
    pub listening_ports: Vec<GroupSummary>,
    pub notes: Vec<String>,
}

impl TraceTally {
    const MAX_GROUPS: usize = 10_000;

    /// Counts one end. A connection established before tracing began has
    /// no known direction: an ephemeral local port (`ephemeral`, the
    /// ip_local_port_range) makes it a connect, any other an accept.
    pub(crate) fn add(&mut self, e: &ConnectionEnd, ephemeral: (u16, u16)) {
        self.ends += 1;
        let opened = e
            .opened
            .unwrap_or(if (ephemeral.0..=ephemeral.1).contains(&e.local.port) {
                Opened::Connected
            } else {
                Opened::Accepted
            });
        let endpoint = match opened {
            Opened::Connected => e.remote,
            Opened::Accepted => e.local,
        };
        let key = (e.netns, opened, endpoint);
        if !self.groups.contains_key(&key) && self.groups.len() >= Self::MAX_GROUPS {
            self.ungrouped += 1;
            return;
        }
        let g = self.groups.entry(key).or_default();
        g.ended += 1;
        match e.end {
            EndKind::ClosedFirst => g.closed_first.add(e.closer.as_ref()),
            EndKind::ClosedFirstPeerOpen => g.closed_first_peer_open.add(e.closer.as_ref()),
            EndKind::ClosedLast => g.closed_last.add(e.closer.as_ref()),
            EndKind::Reset => g.resets += 1,
        }
    }

    /// The summary over a trace of `window_s` seconds, the `top` busiest
    /// groups of each kind.
    pub(crate) fn summary(
        &self,
        opens: &[OpenCount],
        window_s: f64,
        lost: u64,
        top: usize,
    ) -> TraceSummary {
        let mut opened: HashMap<GroupKey, u64> = HashMap::new();
        for o in opens {
            *opened.entry((o.netns, o.opened, o.endpoint)).or_insert(0) += o.count;
        }
        let mut keys: Vec<GroupKey> = self.groups.keys().copied().collect();
        keys.extend(opened.keys().filter(|k| !self.groups.contains_key(k)));
        let (mut upstreams, mut listening_ports) = (Vec::new(), Vec::new());
        for key in keys {
            let g = self.groups.get(&key).cloned().unwrap_or_default();
            let n_opened = opened.get(&key).copied().unwrap_or(0);
            let s = GroupSummary {
                netns: key.0,
                endpoint: key.2,
                opened: n_opened,
                opens_per_s: if window_s > 0.0 {
                    n_opened as f64 / window_s
                } else {
                    0.0
                },
                ended: g.ended,
                time_wait_made_by: g.closed_first.sorted(),
                fin_wait2_made_by: g.closed_first_peer_open.sorted(),
                closed_after_peer_by: g.closed_last.sorted(),
                resets: g.resets,
            };
            match key.1 {
                Opened::Connected => upstreams.push(s),
                Opened::Accepted => listening_ports.push(s),
            }
        }
        let order = |v: &mut Vec<GroupSummary>| {
            v.sort_by(|a, b| {
                (b.opened.max(b.ended))
                    .cmp(&a.opened.max(a.ended))
                    .then(a.endpoint.cmp(&b.endpoint))
            });
            v.truncate(top);
        };
        order(&mut upstreams);
        order(&mut listening_ports);
        let mut notes = Vec::new();
        if lost > 0 {
            notes.push(format!(
                "{lost} connection ends were lost: the kernel's ring was full (the reader fell \
                 behind); counts of ends are low by that much"
            ));
        }
        if self.ungrouped > 0 {
            notes.push(format!(
                "{} ends beyond the first {} groups are counted in the total only",
                self.ungrouped,
                Self::MAX_GROUPS
            ));
        }
        TraceSummary {
            window_s,
            ends: self.ends,
            lost,
            upstreams,
            listening_ports,
            notes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CloseOrder, Closer};

    fn end(local: &str, remote: &str, kind: EndKind, who: Option<(u32, &str)>) -> ConnectionEnd {
        ConnectionEnd {
            at_unix_s: 0.0,
            netns: 1,
            local: local.parse().expect("endpoint"),
            remote: remote.parse().expect("endpoint"),
            end: kind,
            closer: who.map(|(pid, comm)| Closer {
                pid,
                comm: comm.into(),
                cgroup: None,
                order: CloseOrder::First,
                closed_s_ago: 0.0,
            }),
            opened: None,
            lifetime_s: None,
            cookie: 0,
        }
    }

    #[test]
    fn ends_group_by_upstream_and_listening_port_with_their_closers() {
        let mut t = TraceTally::default();
        let eph = (32768, 60999);
        for i in 0..3 {
            let local = format!("10.0.0.1:{}", 40000 + i);
            let e = end(
                &local,
                "10.0.0.9:5432",
                EndKind::ClosedFirst,
                Some((7, "app")),
            );
            t.add(&e, eph);
        }
        t.add(
            &end(
                "10.0.0.1:80",
                "10.0.0.5:50000",
                EndKind::ClosedLast,
                Some((9, "nginx")),
            ),
            eph,
        );
        t.add(
            &end("10.0.0.1:80", "10.0.0.6:50001", EndKind::Reset, None),
            eph,
        );
        let opens = [OpenCount {
            netns: 1,
            opened: Opened::Connected,
            endpoint: "10.0.0.9:5432".parse().expect("endpoint"),
            count: 4,
        }];
        let s = t.summary(&opens, 2.0, 0, 10);
        assert_eq!(s.ends, 5);
        assert_eq!(s.upstreams.len(), 1);
        let up = &s.upstreams[0];
        assert_eq!((up.opened, up.ended, up.opens_per_s), (4, 3, 2.0));
        assert_eq!(up.time_wait_made_by, vec![("7/app".to_string(), 3)]);
        let l = &s.listening_ports[0];
        assert_eq!(
            l.endpoint.to_string(),
            "10.0.0.1:80",
            "the address it arrived at"
        );
        assert_eq!((l.ended, l.resets), (2, 1));
        assert_eq!(l.closed_after_peer_by, vec![("9/nginx".to_string(), 1)]);
        assert!(s.notes.is_empty());
    }

    /// Closing first toward a peer that has not closed makes a FIN_WAIT2
    /// orphan here, not a TIME_WAIT: counted apart.
    #[test]
    fn a_close_the_peer_never_answered_is_not_counted_as_time_wait() {
        let mut t = TraceTally::default();
        let e = end(
            "10.0.0.1:40000",
            "10.0.0.9:80",
            EndKind::ClosedFirstPeerOpen,
            Some((7, "curl")),
        );
        t.add(&e, (32768, 60999));
        let s = t.summary(&[], 1.0, 0, 10);
        let up = &s.upstreams[0];
        assert!(up.time_wait_made_by.is_empty(), "{up:?}");
        assert_eq!(up.fin_wait2_made_by, vec![("7/curl".to_string(), 1)]);
    }

    /// curl run once per request closes each connection from a new pid:
    /// the summary once listed them pid by pid, each seen once.
    #[test]
    fn a_client_run_once_per_request_is_one_name_with_its_pid_count() {
        let mut t = TraceTally::default();
        let eph = (32768, 60999);
        for pid in 100..105 {
            let local = format!("10.0.0.1:{}", 40000 + pid);
            let e = end(
                &local,
                "10.0.0.9:80",
                EndKind::ClosedFirst,
                Some((pid, "curl")),
            );
            t.add(&e, eph);
        }
        for port in 0..3 {
            let local = format!("10.0.0.1:{}", 41000 + port);
            let e = end(
                &local,
                "10.0.0.9:80",
                EndKind::ClosedFirst,
                Some((7, "app")),
            );
            t.add(&e, eph);
        }
        let s = t.summary(&[], 1.0, 0, 10);
        assert_eq!(
            s.upstreams[0].time_wait_made_by,
            vec![("curl (5 pids)".to_string(), 5), ("7/app".to_string(), 3)]
        );
    }

    #[test]
    fn groups_are_bounded() {
        let mut t = TraceTally::default();
        for i in 0..(TraceTally::MAX_GROUPS as u32 + 5) {
            let remote = format!("10.{}.{}.{}:80", i >> 16, (i >> 8) & 255, i & 255);
            t.add(
                &end("10.0.0.1:40000", &remote, EndKind::ClosedFirst, None),
                (32768, 60999),
            );
        }
        assert_eq!(t.ungrouped, 5);
        let s = t.summary(&[], 1.0, 3, 10);
        assert_eq!(s.upstreams.len(), 10);
        assert_eq!(s.notes.len(), 2, "{:?}", s.notes);
    }
}
