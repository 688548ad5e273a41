//! The `TrendTracker`: successive snapshots to `Trends`, over a sliding
//! window of measured length.

use super::tally::Tally;
use super::{Trends, TupleKey};
use crate::model::{
    ListenerRow, ProcessRow, Sample, Snapshot, SocketRow, TcpState, UpstreamRow, rows_by_namespace,
};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

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

/// Turns successive snapshots into trends. Memory is bounded by the
/// window: steps older than it are dropped.
pub(crate) struct TrendTracker {
    window_s: f64,
    first_at: Option<f64>,
    /// When the last observation of either kind was made.
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

/// Seconds until `room` runs out at `per_s`, when it is being used up.
fn time_to(room: f64, per_s: f64) -> Option<f64> {
    (per_s > 0.0 && room.is_finite()).then(|| (room / per_s).max(0.0))
}

impl TrendTracker {
    /// Trends over the last `window_s` seconds.
    pub(crate) fn new(window_s: f64) -> TrendTracker {
        TrendTracker {
            window_s,
            first_at: None,
            last_at: None,
            prev: None,
            steps: VecDeque::new(),
            fds_at: VecDeque::new(),
        }
    }

    /// A sample of the states alone, counted at `at`: the tables, rates
    /// and trends stay those of the last detailed sample, `last`.
    pub(crate) fn add_counts(
        &mut self,
        states: &[(TcpState, u64)],
        at: f64,
        unix_s: f64,
        last: &Sample,
    ) -> Sample {
        let first = *self.first_at.get_or_insert(at);
        let interval = self.last_at.map_or(0.0, |t| (at - t).max(0.0));
        self.last_at = Some(at);
        let mut by_state = BTreeMap::new();
        for (s, n) in states {
            *by_state.entry(*s).or_insert(0) += n;
        }
        let states = crate::model::watch_state_names(&by_state);
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

    /// Adds a snapshot taken at `at` (monotonic seconds, measured by the
    /// caller) and returns the trends up to it. Sockets without a cookie
    /// (a /proc source) count as new every time: growth needs cookies.
    pub(crate) fn add_snapshot(&mut self, snap: &Snapshot, at: f64) -> Trends {
        self.add_rows(snap, &rows_by_namespace(snap), at)
    }

    /// As [`TrendTracker::add_snapshot`], from the snapshot's rows built
    /// already (`rows_by_namespace`), for a caller that hands them to the
    /// rules too.
    pub(crate) fn add_rows(
        &mut self,
        snap: &Snapshot,
        rows: &[Vec<SocketRow<'_>>],
        at: f64,
    ) -> Trends {
        assert_eq!(
            rows.len(),
            snap.namespaces.len(),
            "rows for every namespace"
        );
        let first = *self.first_at.get_or_insert(at);
        let since_last = self.last_at.map_or(0.0, |t| (at - t).max(0.0));
        self.last_at = Some(at);
        let mut tally = Tally::default();
        for (ns, ns_rows) in snap.namespaces.iter().zip(rows) {
            tally.add_namespace(ns, ns_rows, &snap.owners);
        }
        let prev = self.prev.take();
        let interval = prev.as_ref().map_or(0.0, |p| (at - p.at).max(0.0));
        let rates = rates_since(prev.as_ref(), &tally.counters, interval);
        self.add_step(prev.as_ref(), &mut tally, at, interval);
        for p in tally.procs.values_mut() {
            p.fds = snap.owners.process(p.pid).and_then(|x| x.fds_open());
            p.nofile = snap.owners.process(p.pid).and_then(|x| x.nofile_soft);
        }
        self.slide_window(at, &tally.procs);
        // Folded from 0.0: an empty f64 sum is -0.0, which JSON would show.
        let window = self.steps.iter().fold(0.0, |w, s| w + s.dt);
        let mut processes: Vec<ProcessRow> =
            std::mem::take(&mut tally.procs).into_values().collect();
        for p in &mut processes {
            self.process_trend(p, at, window);
        }
        let mut upstreams: Vec<UpstreamRow> = std::mem::take(&mut tally.usage)
            .into_iter()
            .map(|(key, in_use, usable)| self.upstream_trend(key, in_use, usable, window, interval))
            .collect();
        let mut listeners = std::mem::take(&mut tally.listeners);
        sort_tables(&mut processes, &mut upstreams, &mut listeners);
        self.prev = Some(Previous {
            at,
            close_wait: tally.close_wait,
            tuples: tally.tuples,
            counters: tally.counters,
        });
        Trends {
            at_unix_s: snap.taken_at as f64,
            elapsed_s: at - first,
            interval_s: since_last,
            detail_interval_s: interval,
            window_s: window,
            states: tally.states,
            rates,
            processes,
            upstreams,
            listeners,
        }
    }

    /// Records what changed since the previous snapshot: CLOSE_WAIT new
    /// and gone per process (also on its row), ports per tuple.
    fn add_step(&mut self, prev: Option<&Previous>, tally: &mut Tally, at: f64, dt: f64) {
        let cw_changes = changes(prev.map(|p| &p.close_wait), &tally.close_wait);
        for (pid, (new, gone)) in &cw_changes {
            if let Some(p) = tally.procs.get_mut(pid) {
                p.close_wait_new = *new;
                p.close_wait_gone = *gone;
            }
        }
        let Some(prev) = prev else { return };
        let mut step = Step {
            at,
            dt,
            ..Step::default()
        };
        for (key, (new, gone)) in changes(Some(&prev.tuples), &tally.tuples) {
            step.tuple_net.insert(key, new as i64 - gone as i64);
            step.tuple_new.insert(key, new);
        }
        step.close_wait_net = cw_changes
            .into_iter()
            .map(|(pid, (new, gone))| (pid, new as i64 - gone as i64))
            .collect();
        self.steps.push_back(step);
    }

    /// Keeps the fd counts of `at` and drops what left the window.
    fn slide_window(&mut self, at: f64, procs: &HashMap<u32, ProcessRow>) {
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
    }

    /// A process's CLOSE_WAIT and fd growth over the window.
    fn process_trend(&self, p: &mut ProcessRow, at: f64, window: f64) {
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

    /// A tuple's port growth over the window and new connections since
    /// the previous snapshot.
    fn upstream_trend(
        &self,
        key: TupleKey,
        in_use: u64,
        usable: u64,
        window: f64,
        interval: f64,
    ) -> UpstreamRow {
        let (netns, local_ip, remote) = key;
        let net: i64 = self
            .steps
            .iter()
            .filter_map(|s| s.tuple_net.get(&key))
            .sum();
        let growth_per_s = (window > 0.0).then(|| net as f64 / window);
        let new_last_step = self
            .steps
            .back()
            .and_then(|s| s.tuple_new.get(&key))
            .copied()
            .unwrap_or(0);
        UpstreamRow {
            netns,
            local_ip,
            remote,
            in_use,
            usable,
            new_per_s: (interval > 0.0).then(|| new_last_step as f64 / interval),
            growth_per_min: growth_per_s.map(|g| g * 60.0),
            time_to_exhaustion_s: growth_per_s
                .and_then(|g| time_to(usable.saturating_sub(in_use) as f64, g)),
        }
    }
}

/// Counter rates per second since the previous snapshot, summed over the
/// namespaces.
fn rates_since(
    prev: Option<&Previous>,
    now: &HashMap<u64, BTreeMap<&'static str, i64>>,
    interval: f64,
) -> BTreeMap<String, f64> {
    let mut rates = BTreeMap::new();
    let Some(p) = prev.filter(|_| interval > 0.0) else {
        return rates;
    };
    for (ns, counters) in now {
        let Some(before) = p.counters.get(ns) else {
            continue;
        };
        for (name, v) in counters {
            if let Some(b) = before.get(name) {
                *rates.entry(name.to_string()).or_insert(0.0) += (v - b).max(0) as f64 / interval;
            }
        }
    }
    rates
}

/// The rows that matter first in every table.
fn sort_tables(
    processes: &mut [ProcessRow],
    upstreams: &mut [UpstreamRow],
    listeners: &mut [ListenerRow],
) {
    processes.sort_by(|a, b| {
        (b.close_wait, b.established + b.time_wait + b.other)
            .cmp(&(a.close_wait, a.established + a.time_wait + a.other))
            .then(a.pid.cmp(&b.pid))
    });
    upstreams.sort_by(|a, b| {
        (b.in_use as f64 / b.usable.max(1) as f64)
            .total_cmp(&(a.in_use as f64 / a.usable.max(1) as f64))
            .then(a.remote.cmp(&b.remote))
    });
    listeners.sort_by(|a, b| {
        b.accept_queue
            .cmp(&a.accept_queue)
            .then(b.time_wait.cmp(&a.time_wait))
            .then(a.local.cmp(&b.local))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OwnerIndex;
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
        let mut t = TrendTracker::new(60.0);
        let s0 = t.add_snapshot(&snap(&[1, 2], 100, &[]), 0.0);
        assert_eq!(
            s0.processes[0].close_wait_growth_per_min, None,
            "no window yet"
        );
        // 10 s later: 1 gone, 3 and 4 new: +1 in 10 s = 6 per minute.
        let s1 = t.add_snapshot(&snap(&[2, 3, 4], 110, &[]), 10.0);
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
        let mut t = TrendTracker::new(60.0);
        t.add_snapshot(&snap(&[1, 2, 3], 50, &[]), 0.0);
        let s = t.add_snapshot(&snap(&[4, 5, 6], 50, &[]), 5.0);
        let p = &s.processes[0];
        assert_eq!((p.close_wait_new, p.close_wait_gone), (3, 3));
        assert_eq!(p.close_wait_growth_per_min, Some(0.0));
        assert_eq!(p.time_to_fd_limit_s, None, "not growing: no prediction");
    }

    #[test]
    fn the_window_slides_and_ports_predict_exhaustion() {
        let mut t = TrendTracker::new(20.0);
        t.add_snapshot(&snap(&[], 10, &[1]), 0.0);
        t.add_snapshot(&snap(&[], 10, &[1, 2, 3]), 10.0);
        // 40 ports in use of 100 after 30 s; the window holds the last 20 s.
        let ups: Vec<u64> = (1..=40).collect();
        t.add_snapshot(&snap(&[], 10, &ups[..20]), 20.0);
        let s = t.add_snapshot(&snap(&[], 10, &ups), 30.0);
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
