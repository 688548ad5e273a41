//! One snapshot tallied per process, tuple and listener, before it is
//! compared with the previous one.

use super::SocketExample;
use super::TupleKey;
use crate::model::{
    HostInfo, ListenerRow, NsSnapshot, OwnerIndex, ProcessRow, SocketRow, TcpState, tuple_usage,
};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Sockets shown per process.
const EXAMPLES: usize = 5;

/// Counters whose rates the trends carry: (file section, name).
const RATED: [(&str, &str); 4] = [
    ("TcpExt", "ListenOverflows"),
    ("TcpExt", "ListenDrops"),
    ("Tcp", "ActiveOpens"),
    ("Tcp", "PassiveOpens"),
];

/// What one snapshot holds, tallied: before it is compared with the
/// previous one.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) states: BTreeMap<TcpState, u64>,
    pub(super) procs: HashMap<u32, ProcessRow>,
    /// CLOSE_WAIT cookies per process.
    pub(super) close_wait: HashMap<u32, HashSet<u64>>,
    /// Cookies per tuple that uses ephemeral ports.
    pub(super) tuples: HashMap<TupleKey, HashSet<u64>>,
    /// (tuple, ports in use, usable ports).
    pub(super) usage: Vec<(TupleKey, u64, u64)>,
    pub(super) listeners: Vec<ListenerRow>,
    pub(super) counters: HashMap<u64, BTreeMap<&'static str, i64>>,
}

fn counters_of(host: &HostInfo) -> BTreeMap<&'static str, i64> {
    RATED
        .iter()
        .filter_map(|(section, name)| {
            let m = if *section == "Tcp" {
                &host.tcp
            } else {
                &host.tcp_ext
            };
            m.get(*name).map(|v| (*name, *v))
        })
        .collect()
}

impl Tally {
    /// Adds one namespace's rows.
    pub(super) fn add_namespace(
        &mut self,
        ns: &NsSnapshot,
        rows: &[SocketRow<'_>],
        owners: &OwnerIndex,
    ) {
        self.count_per_process(rows, owners);
        let inode = ns.netns.inode;
        // Ephemeral ports per tuple, with the cookies of their sockets.
        for t in tuple_usage(rows, &ns.host) {
            let key = (inode, t.local_ip, t.remote);
            self.tuples.insert(key, HashSet::new());
            self.usage.push((key, t.in_use, t.usable));
        }
        for r in rows {
            let key = (inode, r.socket.local.ip, r.socket.remote);
            if let (Some(set), Some(c)) = (self.tuples.get_mut(&key), r.socket.cookie) {
                set.insert(c);
            }
        }
        self.add_listeners(ns, rows, owners);
        self.counters.insert(inode, counters_of(&ns.host));
    }

    /// Sockets per state, per process (its owner, the closer of a
    /// TIME_WAIT, or its likely closer), and each process's examples.
    fn count_per_process(&mut self, rows: &[SocketRow<'_>], owners: &OwnerIndex) {
        let mut examples: HashMap<u32, Vec<&SocketRow>> = HashMap::new();
        for r in rows {
            *self.states.entry(r.socket.state).or_insert(0) += 1;
            let pid = r
                .owners
                .first()
                .map(|o| o.pid)
                .or(r.closed_by.map(|c| c.pid))
                .or(r.likely_owners.first().copied());
            let Some(pid) = pid else { continue };
            let p = self.procs.entry(pid).or_insert_with(|| ProcessRow {
                pid,
                comm: process_name(owners, r, pid),
                ..ProcessRow::default()
            });
            keep_example(examples.entry(pid).or_default(), r);
            match r.socket.state {
                TcpState::Established => p.established += 1,
                TcpState::CloseWait => {
                    p.close_wait += 1;
                    if let Some(c) = r.socket.cookie {
                        self.close_wait.entry(pid).or_default().insert(c);
                    }
                }
                TcpState::TimeWait => p.time_wait += 1,
                _ => p.other += 1,
            }
        }
        for (pid, mut list) in examples {
            list.sort_by(example_order);
            if let Some(p) = self.procs.get_mut(&pid) {
                let room = EXAMPLES - p.sockets.len().min(EXAMPLES);
                p.sockets
                    .extend(list.iter().take(room).map(|r| SocketExample(r).to_string()));
            }
        }
    }

    fn add_listeners(&mut self, ns: &NsSnapshot, rows: &[SocketRow<'_>], owners: &OwnerIndex) {
        let mut time_wait_on: HashMap<u16, u64> = HashMap::new();
        for r in rows.iter().filter(|r| r.socket.state == TcpState::TimeWait) {
            *time_wait_on.entry(r.socket.local.port).or_insert(0) += 1;
        }
        for r in rows.iter().filter(|r| r.socket.state == TcpState::Listen) {
            let pid = r.owners.first().map(|o| o.pid);
            self.listeners.push(ListenerRow {
                netns: ns.netns.inode,
                local: r.socket.local,
                pid,
                comm: pid
                    .and_then(|p| owners.process(p))
                    .map(|p| p.comm.clone())
                    .unwrap_or_default(),
                accept_queue: r.socket.recv_q,
                backlog: if ns.listen_backlog_known {
                    r.socket.send_q
                } else {
                    0
                },
                time_wait: time_wait_on.get(&r.socket.local.port).copied().unwrap_or(0),
            });
        }
    }
}

/// CLOSE_WAIT first, then the oldest.
fn example_order(a: &&SocketRow, b: &&SocketRow) -> std::cmp::Ordering {
    let cw = |r: &SocketRow| r.socket.state != TcpState::CloseWait;
    cw(a)
        .cmp(&cw(b))
        .then(b.age_s.unwrap_or(0.0).total_cmp(&a.age_s.unwrap_or(0.0)))
}

/// Keeps the `EXAMPLES` best rows seen, in one pass: a process with a
/// hundred thousand sockets costs no sort and no list of them all.
fn keep_example<'a>(list: &mut Vec<&'a SocketRow<'a>>, r: &'a SocketRow<'a>) {
    if list.len() < EXAMPLES {
        list.push(r);
        return;
    }
    let worst = (0..list.len())
        .max_by(|i, j| example_order(&list[*i], &list[*j]))
        .unwrap_or(0);
    if example_order(&r, &list[worst]).is_lt() {
        list[worst] = r;
    }
}

fn process_name(owners: &OwnerIndex, r: &SocketRow, pid: u32) -> String {
    owners
        .process(pid)
        .map(|p| p.comm.clone())
        .or_else(|| r.closed_by.filter(|c| c.pid == pid).map(|c| c.comm.clone()))
        .unwrap_or_default()
}
