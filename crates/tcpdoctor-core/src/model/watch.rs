//! Observation over time: `Tracker` turns a series of snapshots into
//! `Sample`s with rates and predictions, for `watch`, `replay`, `diagnose
//! --for` and the exporter. Growth is measured by socket cookie (the
//! sockets new and gone between two snapshots), not by the difference of
//! two counts, so churn that keeps a count flat is not mistaken for
//! growth and a leak hidden by churn is not missed. Every rate says the
//! measured window it was taken over.

use super::{
    Endpoint, HostInfo, OwnerIndex, Snapshot, SocketRow, TcpState, rows_by_namespace, tuple_usage,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::IpAddr;

/// One process in a sample.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessRow {
    pub pid: u32,
    pub comm: String,
    pub established: u64,
    pub close_wait: u64,
    /// TIME_WAIT this process closed (exactly, while a tracer runs) or
    /// likely closed.
    pub time_wait: u64,
    pub other: u64,
    /// CLOSE_WAIT sockets new and gone since the previous sample.
    pub close_wait_new: u64,
    pub close_wait_gone: u64,
    /// Net CLOSE_WAIT growth per minute over the trend window.
    pub close_wait_growth_per_min: Option<f64>,
    pub fds: Option<u32>,
    pub nofile: Option<u64>,
    /// Open fds' growth per minute over the trend window.
    pub fd_growth_per_min: Option<f64>,
    /// Seconds until RLIMIT_NOFILE at the current growth.
    pub time_to_fd_limit_s: Option<f64>,
    /// A few of its sockets ("STATE local > remote, age"), CLOSE_WAIT
    /// first, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sockets: Vec<String>,
}

/// Sockets shown per process.
const EXAMPLES: usize = 5;

/// One (local IP, remote ip:port) tuple's ephemeral ports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpstreamRow {
    pub netns: u64,
    pub local_ip: IpAddr,
    pub remote: Endpoint,
    pub in_use: u64,
    pub usable: u64,
    /// Connections toward it new since the previous sample, per second.
    pub new_per_s: Option<f64>,
    /// Net growth of ports in use per minute over the trend window.
    pub growth_per_min: Option<f64>,
    /// Seconds until every usable port is taken, at the current growth.
    pub time_to_exhaustion_s: Option<f64>,
}

/// One listening socket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListenerRow {
    pub netns: u64,
    pub local: Endpoint,
    pub pid: Option<u32>,
    pub comm: String,
    /// Connections waiting for accept() (Recv-Q of a LISTEN socket).
    pub accept_queue: u32,
    /// Its backlog (Send-Q of a LISTEN socket; 0 when unknown).
    pub backlog: u32,
    /// TIME_WAIT on its port: connections its process closed first.
    pub time_wait: u64,
}

/// A finding as a sample carries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FindingRow {
    pub severity: String,
    pub id: String,
    pub subject: String,
    pub title: String,
}

/// One observation, with what changed since the one before.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub at_unix_s: f64,
    /// Seconds since the first sample (monotonic).
    pub elapsed_s: f64,
    /// The measured time since the previous sample (0 for the first).
    pub interval_s: f64,
    /// The measured length of the window the growth rates are over.
    pub window_s: f64,
    /// Sockets per state (netstat names), every namespace read.
    pub states: BTreeMap<String, u64>,
    pub total: u64,
    /// The measured time between this sample's tables and the previous
    /// tables (the rates and "new per second" are over it).
    #[serde(default)]
    pub detail_interval_s: f64,
    /// Host-wide rates over `detail_interval_s` (TcpExt ListenOverflows,
    /// ListenDrops; Tcp ActiveOpens, PassiveOpens), per second.
    pub rates: BTreeMap<String, f64>,
    pub processes: Vec<ProcessRow>,
    pub upstreams: Vec<UpstreamRow>,
    pub listeners: Vec<ListenerRow>,
    pub findings: Vec<FindingRow>,
    /// Whether the owners are this sample's own (false: reused from an
    /// earlier scan, which is refreshed less often when it is expensive).
    pub owners_fresh: bool,
    /// Whether the tables are this sample's own (false: the states were
    /// counted afresh, the tables are the last detailed sample's, which
    /// is taken less often when a full dump is expensive).
    #[serde(default = "yes")]
    pub tables_fresh: bool,
    /// How old the tables are, in seconds (0 when fresh).
    #[serde(default)]
    pub tables_age_s: f64,
    pub notes: Vec<String>,
}

fn yes() -> bool {
    true
}

/// Counters whose rates a sample carries: (file section, name).
const RATED: [(&str, &str); 4] = [
    ("TcpExt", "ListenOverflows"),
    ("TcpExt", "ListenDrops"),
    ("Tcp", "ActiveOpens"),
    ("Tcp", "PassiveOpens"),
];

type TupleKey = (u64, IpAddr, Endpoint);

/// What one step changed, kept for the trend window.
#[derive(Default)]
struct Step {
    at: f64,
    dt: f64,
    close_wait_net: HashMap<u32, i64>,
    tuple_net: HashMap<TupleKey, i64>,
    tuple_new: HashMap<TupleKey, u64>,
}

/// What the previous snapshot held.
#[derive(Default)]
struct Previous {
    at: f64,
    close_wait: HashMap<u32, HashSet<u64>>,
    tuples: HashMap<TupleKey, HashSet<u64>>,
    counters: HashMap<u64, BTreeMap<&'static str, i64>>,
}

/// Turns successive snapshots into samples. Memory is bounded by the
/// window (steps older than it are dropped) and by `top` rows per table.
pub struct Tracker {
    window_s: f64,
    top: usize,
    first_at: Option<f64>,
    /// When the last sample of either kind was taken.
    last_at: Option<f64>,
    prev: Option<Previous>,
    steps: VecDeque<Step>,
    fds_at: VecDeque<(f64, HashMap<u32, u32>)>,
}

/// Per key, the cookies new and gone between two samples (a key present in
/// only one of them counts all its cookies as new, or as gone).
fn changes<K: Copy + Eq + std::hash::Hash>(
    before: Option<&HashMap<K, HashSet<u64>>>,
    now: &HashMap<K, HashSet<u64>>,
) -> HashMap<K, (u64, u64)> {
    let empty = HashSet::new();
    let mut out: HashMap<K, (u64, u64)> = now
        .iter()
        .map(|(k, n)| {
            let b = before.and_then(|b| b.get(k)).unwrap_or(&empty);
            let new = n.difference(b).count() as u64;
            let gone = b.difference(n).count() as u64;
            (*k, (new, gone))
        })
        .collect();
    for (k, b) in before.into_iter().flatten() {
        out.entry(*k).or_insert((0, b.len() as u64));
    }
    out
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

/// Seconds until `room` runs out at `per_s`, when it is being used up.
fn time_to(room: f64, per_s: f64) -> Option<f64> {
    (per_s > 0.0 && room.is_finite()).then(|| (room / per_s).max(0.0))
}

impl Tracker {
    /// Trends over the last `window_s` seconds; `top` rows per table.
    pub fn new(window_s: f64, top: usize) -> Tracker {
        Tracker {
            window_s,
            top,
            first_at: None,
            last_at: None,
            prev: None,
            steps: VecDeque::new(),
            fds_at: VecDeque::new(),
        }
    }

    /// A sample of the states alone, counted at `at`: the tables, rates
    /// and trends stay those of the last detailed sample.
    pub fn observe_counts(
        &mut self,
        states: &[(TcpState, u64)],
        at: f64,
        unix_s: f64,
        last: &Sample,
    ) -> Sample {
        let first = *self.first_at.get_or_insert(at);
        let interval = self.last_at.map_or(0.0, |t| (at - t).max(0.0));
        self.last_at = Some(at);
        let mut by_state = [0u64; 16];
        for (s, n) in states {
            by_state[s.kernel_number() as usize & 15] += n;
        }
        let states = state_names(&by_state);
        Sample {
            at_unix_s: unix_s,
            elapsed_s: at - first,
            interval_s: interval,
            total: states.values().sum(),
            states,
            owners_fresh: false,
            tables_fresh: false,
            tables_age_s: self.prev.as_ref().map_or(0.0, |p| (at - p.at).max(0.0)),
            ..last.clone()
        }
    }

    /// Observes a snapshot taken at `at` (monotonic seconds, measured by
    /// the caller) and returns its sample. Sockets without a cookie (a
    /// /proc source) count as new in every sample: growth needs cookies.
    pub fn observe(&mut self, snap: &Snapshot, at: f64, owners_fresh: bool) -> Sample {
        self.observe_rows(snap, &rows_by_namespace(snap), at, owners_fresh)
    }

    /// As [`Tracker::observe`], from the snapshot's rows built already
    /// (`rows_by_namespace`), for a caller that hands them to the rules too.
    pub fn observe_rows(
        &mut self,
        snap: &Snapshot,
        rows: &[Vec<SocketRow<'_>>],
        at: f64,
        owners_fresh: bool,
    ) -> Sample {
        assert_eq!(
            rows.len(),
            snap.namespaces.len(),
            "rows for every namespace"
        );
        let first = *self.first_at.get_or_insert(at);
        let since_last = self.last_at.map_or(0.0, |t| (at - t).max(0.0));
        self.last_at = Some(at);
        let owners = &snap.owners;
        let mut by_state = [0u64; 16];
        let mut procs: HashMap<u32, ProcessRow> = HashMap::new();
        let mut close_wait: HashMap<u32, HashSet<u64>> = HashMap::new();
        let mut tuples: HashMap<TupleKey, HashSet<u64>> = HashMap::new();
        let mut usage = Vec::new();
        let mut listeners = Vec::new();
        let mut counters_now = HashMap::new();
        for (ns, ns_rows) in snap.namespaces.iter().zip(rows) {
            let ns_rows = ns_rows.as_slice();
            let mut examples: HashMap<u32, Vec<&SocketRow>> = HashMap::new();
            for r in ns_rows {
                by_state[r.socket.state.kernel_number() as usize & 15] += 1;
                let pid = r
                    .owners
                    .first()
                    .map(|o| o.pid)
                    .or(r.closed_by.map(|c| c.pid))
                    .or(r.likely_owners.first().copied());
                let Some(pid) = pid else { continue };
                let p = procs.entry(pid).or_insert_with(|| ProcessRow {
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
                            close_wait.entry(pid).or_default().insert(c);
                        }
                    }
                    TcpState::TimeWait => p.time_wait += 1,
                    _ => p.other += 1,
                }
            }
            for (pid, mut list) in examples {
                list.sort_by(example_order);
                if let Some(p) = procs.get_mut(&pid) {
                    p.sockets.extend(
                        list.iter()
                            .take(EXAMPLES - p.sockets.len().min(EXAMPLES))
                            .map(|r| {
                                let age = r.age_s.map_or_else(String::new, |a| {
                                    format!(", {}", super::human_age(a))
                                });
                                format!(
                                    "{} {} > {}{age}",
                                    r.socket.state.netstat_name(),
                                    r.socket.local,
                                    r.socket.remote
                                )
                            }),
                    );
                }
            }
            // Ephemeral ports per tuple, with the cookies of their sockets.
            let inode = ns.netns.inode;
            for t in tuple_usage(ns_rows, &ns.host) {
                let key = (inode, t.local_ip, t.remote);
                tuples.insert(key, HashSet::new());
                usage.push((key, t.in_use, t.usable));
            }
            for r in ns_rows {
                let key = (inode, r.socket.local.ip, r.socket.remote);
                if let (Some(set), Some(c)) = (tuples.get_mut(&key), r.socket.cookie) {
                    set.insert(c);
                }
            }
            let mut time_wait_on: HashMap<u16, u64> = HashMap::new();
            for r in ns_rows
                .iter()
                .filter(|r| r.socket.state == TcpState::TimeWait)
            {
                *time_wait_on.entry(r.socket.local.port).or_insert(0) += 1;
            }
            for r in ns_rows
                .iter()
                .filter(|r| r.socket.state == TcpState::Listen)
            {
                let pid = r.owners.first().map(|o| o.pid);
                listeners.push(ListenerRow {
                    netns: inode,
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
            counters_now.insert(inode, counters_of(&ns.host));
        }
        let states = state_names(&by_state);
        // What changed since the previous sample.
        let prev = self.prev.take();
        let interval = prev.as_ref().map_or(0.0, |p| (at - p.at).max(0.0));
        let mut step = Step {
            at,
            dt: interval,
            ..Step::default()
        };
        let cw_changes = changes(prev.as_ref().map(|p| &p.close_wait), &close_wait);
        for (pid, (new, gone)) in &cw_changes {
            if let Some(p) = procs.get_mut(pid) {
                p.close_wait_new = *new;
                p.close_wait_gone = *gone;
            }
        }
        if prev.is_some() {
            for (key, (new, gone)) in changes(prev.as_ref().map(|p| &p.tuples), &tuples) {
                step.tuple_net.insert(key, new as i64 - gone as i64);
                step.tuple_new.insert(key, new);
            }
            step.close_wait_net = cw_changes
                .into_iter()
                .map(|(pid, (new, gone))| (pid, new as i64 - gone as i64))
                .collect();
        }
        let mut rates = BTreeMap::new();
        if let Some(p) = &prev
            && interval > 0.0
        {
            for (ns, now) in &counters_now {
                let Some(before) = p.counters.get(ns) else {
                    continue;
                };
                for (name, v) in now {
                    if let Some(b) = before.get(name) {
                        *rates.entry(name.to_string()).or_insert(0.0) +=
                            (v - b).max(0) as f64 / interval;
                    }
                }
            }
        }
        for p in procs.values_mut() {
            p.fds = owners.process(p.pid).and_then(|x| x.fds_open());
            p.nofile = owners.process(p.pid).and_then(|x| x.nofile_soft);
        }
        if prev.is_some() {
            self.steps.push_back(step);
        }
        self.fds_at.push_back((
            at,
            procs
                .values()
                .filter_map(|p| Some((p.pid, p.fds?)))
                .collect(),
        ));
        while self
            .steps
            .front()
            .is_some_and(|s| at - (s.at - s.dt) > self.window_s + 1e-9)
        {
            self.steps.pop_front();
        }
        while self.fds_at.len() > 1
            && self
                .fds_at
                .front()
                .is_some_and(|(t, _)| at - t > self.window_s + 1e-9)
        {
            self.fds_at.pop_front();
        }
        let window = self.steps.iter().map(|s| s.dt).sum::<f64>();
        // Trends over the window.
        for p in procs.values_mut() {
            if window > 0.0 {
                let net: i64 = self
                    .steps
                    .iter()
                    .filter_map(|s| s.close_wait_net.get(&p.pid))
                    .sum();
                p.close_wait_growth_per_min = Some(net as f64 / window * 60.0);
            }
            if let (Some((t0, fds0)), Some(now)) = (self.fds_at.front(), p.fds)
                && let Some(before) = fds0.get(&p.pid)
                && at - t0 > 0.0
            {
                let per_s = (f64::from(now) - f64::from(*before)) / (at - t0);
                p.fd_growth_per_min = Some(per_s * 60.0);
                if let Some(limit) = p.nofile {
                    p.time_to_fd_limit_s = time_to(limit as f64 - f64::from(now), per_s);
                }
            }
        }
        let mut upstreams: Vec<UpstreamRow> = usage
            .into_iter()
            .map(|(key, in_use, usable)| {
                let (netns, local_ip, remote) = key;
                let net: i64 = self
                    .steps
                    .iter()
                    .filter_map(|s| s.tuple_net.get(&key))
                    .sum();
                let growth_per_s = (window > 0.0).then(|| net as f64 / window);
                UpstreamRow {
                    netns,
                    local_ip,
                    remote,
                    in_use,
                    usable,
                    new_per_s: (interval > 0.0)
                        .then(|| step_new(self.steps.back(), &key) as f64 / interval),
                    growth_per_min: growth_per_s.map(|g| g * 60.0),
                    time_to_exhaustion_s: growth_per_s
                        .and_then(|g| time_to(usable.saturating_sub(in_use) as f64, g)),
                }
            })
            .collect();
        self.prev = Some(Previous {
            at,
            close_wait,
            tuples,
            counters: counters_now,
        });
        // Bounded tables, the rows that matter first.
        let mut processes: Vec<ProcessRow> = procs.into_values().collect();
        processes.sort_by(|a, b| {
            (b.close_wait, b.established + b.time_wait + b.other)
                .cmp(&(a.close_wait, a.established + a.time_wait + a.other))
                .then(a.pid.cmp(&b.pid))
        });
        processes.truncate(self.top);
        upstreams.sort_by(|a, b| {
            (b.in_use as f64 / b.usable.max(1) as f64)
                .total_cmp(&(a.in_use as f64 / a.usable.max(1) as f64))
                .then(a.remote.cmp(&b.remote))
        });
        upstreams.truncate(self.top);
        listeners.sort_by(|a, b| {
            b.accept_queue
                .cmp(&a.accept_queue)
                .then(b.time_wait.cmp(&a.time_wait))
                .then(a.local.cmp(&b.local))
        });
        listeners.truncate(self.top);
        Sample {
            at_unix_s: snap.taken_at as f64,
            elapsed_s: at - first,
            interval_s: since_last,
            detail_interval_s: interval,
            window_s: window,
            total: states.values().sum(),
            states,
            tables_fresh: true,
            tables_age_s: 0.0,
            rates,
            processes,
            upstreams,
            listeners,
            findings: Vec::new(),
            owners_fresh,
            notes: snap.notes.clone(),
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

/// Counts per kernel state number as netstat names, zeros left out.
fn state_names(by_state: &[u64; 16]) -> BTreeMap<String, u64> {
    TcpState::ALL
        .iter()
        .filter_map(|s| {
            let n = by_state[s.kernel_number() as usize & 15];
            (n > 0).then(|| (s.netstat_name().to_string(), n))
        })
        .collect()
}

fn step_new(step: Option<&Step>, key: &TupleKey) -> u64 {
    step.and_then(|s| s.tuple_new.get(key))
        .copied()
        .unwrap_or(0)
}

fn process_name(owners: &OwnerIndex, r: &SocketRow, pid: u32) -> String {
    owners
        .process(pid)
        .map(|p| p.comm.clone())
        .or_else(|| r.closed_by.filter(|c| c.pid == pid).map(|c| c.comm.clone()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FdRef, NsSnapshot, Process, Socket};

    /// A snapshot where pid 7 (`app`, 1024 fds allowed) holds the CLOSE_WAIT
    /// sockets with these cookies, and `fds` fds in all; plus outbound
    /// ESTABLISHED sockets toward 10.0.0.9:5432 with `upstream` cookies.
    fn snap(cookies: &[u64], fds: u32, upstream: &[u64]) -> Snapshot {
        let mut ns = NsSnapshot::default();
        ns.netns.inode = 1;
        ns.host
            .sysctls
            .insert("net.ipv4.ip_local_port_range".into(), "40000\t40099".into());
        let mut owners = OwnerIndex::default();
        for (i, c) in cookies.iter().enumerate() {
            let mut s = Socket::new(
                TcpState::CloseWait,
                "10.0.0.1:80".parse().expect("ep"),
                format!("10.0.0.2:{}", 1000 + i).parse().expect("ep"),
            );
            s.cookie = Some(*c);
            s.inode = 100 + *c;
            owners
                .by_inode
                .entry(s.inode)
                .or_default()
                .push(FdRef { pid: 7, fd: 3 });
            ns.sockets.push(s);
        }
        for (i, c) in upstream.iter().enumerate() {
            let mut s = Socket::new(
                TcpState::Established,
                format!("10.0.0.1:{}", 40000 + i).parse().expect("ep"),
                "10.0.0.9:5432".parse().expect("ep"),
            );
            s.cookie = Some(*c);
            ns.sockets.push(s);
        }
        owners.processes.insert(
            7,
            Process {
                pid: 7,
                comm: "app".into(),
                fd_count: fds,
                nofile_soft: Some(1024),
                ..Process::default()
            },
        );
        Snapshot {
            namespaces: vec![ns],
            owners,
            ..Snapshot::default()
        }
    }

    #[test]
    fn growth_is_counted_by_cookie_over_the_measured_window() {
        let mut t = Tracker::new(60.0, 10);
        let s0 = t.observe(&snap(&[1, 2], 100, &[]), 0.0, true);
        assert_eq!(
            s0.processes[0].close_wait_growth_per_min, None,
            "no window yet"
        );
        // 10 s later: 1 gone, 3 and 4 new: +1 in 10 s = 6 per minute.
        let s1 = t.observe(&snap(&[2, 3, 4], 110, &[]), 10.0, true);
        let p = &s1.processes[0];
        assert_eq!((p.close_wait_new, p.close_wait_gone), (2, 1));
        assert_eq!(p.close_wait_growth_per_min, Some(6.0));
        assert_eq!((s1.interval_s, s1.window_s), (10.0, 10.0));
        // fds: +10 in 10 s = 1/s; 1024 - 110 left: 914 s.
        assert_eq!(p.fd_growth_per_min, Some(60.0));
        assert_eq!(p.time_to_fd_limit_s, Some(914.0));
    }

    #[test]
    fn churn_that_keeps_the_count_flat_is_not_growth() {
        let mut t = Tracker::new(60.0, 10);
        t.observe(&snap(&[1, 2, 3], 50, &[]), 0.0, true);
        let s = t.observe(&snap(&[4, 5, 6], 50, &[]), 5.0, true);
        let p = &s.processes[0];
        assert_eq!((p.close_wait_new, p.close_wait_gone), (3, 3));
        assert_eq!(p.close_wait_growth_per_min, Some(0.0));
        assert_eq!(p.time_to_fd_limit_s, None, "not growing: no prediction");
    }

    #[test]
    fn the_window_slides_and_ports_predict_exhaustion() {
        let mut t = Tracker::new(20.0, 10);
        t.observe(&snap(&[], 10, &[1]), 0.0, true);
        t.observe(&snap(&[], 10, &[1, 2, 3]), 10.0, true);
        // 40 ports in use of 100 after 30 s; the window holds the last 20 s.
        let ups: Vec<u64> = (1..=40).collect();
        t.observe(&snap(&[], 10, &ups[..20]), 20.0, true);
        let s = t.observe(&snap(&[], 10, &ups), 30.0, true);
        assert_eq!(s.window_s, 20.0);
        let u = &s.upstreams[0];
        assert_eq!((u.in_use, u.usable), (40, 100));
        // +37 over the last 20 s: 1.85/s; 60 ports left: ~32 s.
        assert_eq!(u.growth_per_min, Some(37.0 * 3.0));
        assert!(
            u.time_to_exhaustion_s
                .is_some_and(|t| (t - 60.0 / 1.85).abs() < 1e-6)
        );
        assert_eq!(u.new_per_s, Some(2.0), "20 new in the last 10 s");
    }
}
