//! Sockets with their owners, ages and (for TIME_WAIT) likely owners: what
//! `tcpdoctor sockets` lists, `census --by process` counts, the rules judge
//! and the exporter exports. `rows` is the one way to get them from a
//! snapshot; a row borrows its socket and owners, so a listing of a
//! million sockets copies none of them.
//!
//! Ages:
//! - TIME_WAIT lasts a fixed 60 s on Linux (TCP_TIMEWAIT_LEN), so its age is
//!   60 s minus the time left on its timer.
//! - CLOSE_WAIT: tcp_info's last_ack_recv is the time since the last segment
//!   from the peer, which is its FIN: how long the socket has waited for the
//!   process to call close() (unless the process kept sending and the peer
//!   kept acknowledging). tests/it/kernel_owners.rs checks this on the kernel.
//!
//! TIME_WAIT has no owner: the process closed it. While a tracer runs, the
//! kernel tells which process did (`closed_by`, exact, by socket cookie).
//! Otherwise it is inferred, and labelled "likely" (so is the owner of a short connection
//! closed between the dump and the owner scan): an inbound one (its local port is a
//! listening port: this host closed first as a server) belongs to the
//! listener's processes; an outbound one (an ephemeral port: this host
//! closed first as a client) to the processes that now hold connections to
//! the same remote ip:port.

use super::{
    Closer, Endpoint, FdRef, NsSnapshot, OwnerIndex, Snapshot, Socket, StateSet, TcpState, Timer,
};
use serde::Serialize;
use smallvec::SmallVec;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// TCP_TIMEWAIT_LEN (include/net/tcp.h): not tunable.
const TIME_WAIT_MS: u32 = 60_000;

/// How long a socket has been in its state, in seconds, when it can be told.
pub(crate) fn age_seconds(s: &Socket) -> Option<f64> {
    match s.state {
        TcpState::TimeWait if s.timer == Timer::TimeWait => {
            Some(f64::from(TIME_WAIT_MS - s.timer_ms.min(TIME_WAIT_MS)) / 1000.0)
        }
        TcpState::CloseWait => s
            .info
            .as_ref()
            .map(|i| f64::from(i.last_ack_recv_ms) / 1000.0),
        _ => None,
    }
}

/// Which side closed first, for a TIME_WAIT socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The local port is a listening port: this host closed first as a server.
    Inbound,
    /// An ephemeral local port: this host closed first as a client.
    Outbound,
}

/// The pids that likely closed a TIME_WAIT socket, lowest first.
pub(crate) type LikelyOwners = SmallVec<[u32; 2]>;

/// One socket with everything known about it.
#[derive(Clone, Debug, PartialEq)]
pub struct SocketRow<'a> {
    pub socket: &'a Socket,
    /// The network namespace inode (`net:[N]`), when several were read.
    pub netns: Option<u64>,
    pub age_s: Option<f64>,
    /// The fds that hold it (pid and fd; names come from the owner index).
    pub owners: &'a [FdRef],
    pub likely_owners: LikelyOwners,
    /// The process that closed it, seen by the tracer (TIME_WAIT only);
    /// when known, `likely_owners` is left empty.
    pub closed_by: Option<&'a Closer>,
    pub side: Option<Side>,
}

/// The listeners of one namespace, to tell whether a connection's local
/// address is one they accept on (the server side of it).
#[derive(Default)]
pub(crate) struct Listeners {
    /// Listening port -> (listener address, inode).
    by_port: HashMap<u16, Vec<(IpAddr, u64)>>,
}

fn same_addr(listener: IpAddr, local: IpAddr) -> bool {
    if listener.is_unspecified() {
        return true;
    }
    listener.to_canonical() == local.to_canonical()
}

impl Listeners {
    /// From sockets; only the LISTEN ones count.
    pub(crate) fn of<'a>(sockets: impl IntoIterator<Item = &'a Socket>) -> Listeners {
        let mut l = Listeners::default();
        for s in sockets {
            l.add(s);
        }
        l
    }

    fn add(&mut self, s: &Socket) {
        if s.state == TcpState::Listen {
            self.by_port
                .entry(s.local.port)
                .or_default()
                .push((s.local.ip, s.inode));
        }
    }

    /// The inodes of the listeners that accept on `local`.
    pub(crate) fn inodes_for<'a>(&'a self, local: &'a Endpoint) -> impl Iterator<Item = u64> + 'a {
        self.by_port
            .get(&local.port)
            .into_iter()
            .flatten()
            .filter(|(ip, _)| same_addr(*ip, local.ip))
            .map(|(_, ino)| *ino)
    }

    /// Whether a listener accepts on `local`.
    pub(crate) fn cover(&self, local: &Endpoint) -> bool {
        self.inodes_for(local).next().is_some()
    }
}

/// What a TIME_WAIT socket is matched against, built from every socket of
/// one namespace.
struct Attribution {
    listeners: Listeners,
    /// Remote endpoint -> inodes of sockets (with a file) connected to it.
    by_remote: HashMap<Endpoint, Vec<u64>>,
}

impl Attribution {
    pub(crate) fn new(sockets: &[Socket]) -> Attribution {
        let mut listeners = Listeners::default();
        let mut by_remote: HashMap<Endpoint, Vec<u64>> = HashMap::new();
        for s in sockets {
            if s.state == TcpState::Listen {
                listeners.add(s);
            } else if s.inode != 0 {
                by_remote.entry(s.remote).or_default().push(s.inode);
            }
        }
        Attribution {
            listeners,
            by_remote,
        }
    }

    /// The inodes whose owners the attribution of `tw` needs.
    fn evidence_inodes(&self, tw: &Socket) -> Vec<u64> {
        match self.side(tw) {
            Side::Inbound => self.listeners.inodes_for(&tw.local).collect(),
            Side::Outbound => self.by_remote.get(&tw.remote).cloned().unwrap_or_default(),
        }
    }

    pub(crate) fn side(&self, tw: &Socket) -> Side {
        if self.listeners.cover(&tw.local) {
            Side::Inbound
        } else {
            Side::Outbound
        }
    }

    /// The processes that likely closed `tw`, lowest pid first.
    pub(crate) fn likely_owners(&self, tw: &Socket, owners: &OwnerIndex) -> LikelyOwners {
        let mut pids = LikelyOwners::new();
        for ino in self.evidence_inodes(tw) {
            for h in owners.holders(ino) {
                if !pids.contains(&h.pid) {
                    pids.push(h.pid);
                }
            }
        }
        pids.sort_unstable();
        pids
    }
}

/// Which rows to keep.
#[derive(Clone, Debug, Default)]
pub struct RowFilter {
    /// Empty: every state.
    pub states: Option<StateSet>,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    /// Either port.
    pub port: Option<u16>,
    pub pids: Vec<u32>,
    /// Process names, matched exactly against comm.
    pub comms: Vec<String>,
    pub remote_ip: Option<IpAddr>,
    pub remote_port: Option<u16>,
}

impl RowFilter {
    pub(crate) fn needs_owners(&self) -> bool {
        !self.pids.is_empty() || !self.comms.is_empty()
    }

    /// Whether the socket itself passes (everything but owner filters).
    pub(crate) fn matches_socket(&self, s: &Socket) -> bool {
        self.states.is_none_or(|set| set.contains(s.state))
            && self.sport.is_none_or(|p| s.local.port == p)
            && self.dport.is_none_or(|p| s.remote.port == p)
            && self
                .port
                .is_none_or(|p| s.local.port == p || s.remote.port == p)
            && self
                .remote_ip
                .is_none_or(|ip| ip.to_canonical() == s.remote.ip.to_canonical())
            && self.remote_port.is_none_or(|p| s.remote.port == p)
    }

    /// Whether an owner (or likely owner) of the row passes the pid and
    /// comm filters; `idx` names the pids.
    fn matches_owners(&self, row: &SocketRow, idx: &OwnerIndex) -> bool {
        if !self.needs_owners() {
            return true;
        }
        let comm_of = |pid: u32| idx.process(pid).map_or("", |p| p.comm.as_str());
        let passes = |pid: u32, comm: &str| {
            (self.pids.is_empty() || self.pids.contains(&pid))
                && (self.comms.is_empty() || self.comms.iter().any(|c| c == comm))
        };
        row.owners
            .iter()
            .map(|o| o.pid)
            .chain(row.likely_owners.iter().copied())
            .any(|pid| passes(pid, comm_of(pid)))
            || row.closed_by.is_some_and(|c| passes(c.pid, &c.comm))
    }
}

/// The rows of one namespace's sockets that pass `filter`, unsorted.
/// Attribution looks at every socket of the namespace (listeners and
/// connections), whatever the filter keeps.
pub(crate) fn rows_of<'a>(
    ns: &'a NsSnapshot,
    owners: &'a OwnerIndex,
    label: Option<u64>,
    filter: &RowFilter,
) -> Vec<SocketRow<'a>> {
    let all = &ns.sockets;
    // A socket that had a file when the kernel dumped it but no holder when
    // /proc was scanned a moment later was a short connection, closed in
    // between (at hundreds of connections a second, most of them): it gets
    // the same evidence-based likely owner as a TIME_WAIT.
    let lost = |s: &Socket| {
        s.inode != 0 && s.state != TcpState::Listen && owners.holders(s.inode).is_empty()
    };
    let attribution = (all.iter().any(|s| s.state == TcpState::TimeWait)
        || (!owners.by_inode.is_empty() && all.iter().any(lost)))
    .then(|| Attribution::new(all));
    let mut out = Vec::with_capacity(all.len());
    for s in all.iter().filter(|s| filter.matches_socket(s)) {
        let mut row = SocketRow {
            socket: s,
            netns: label,
            age_s: age_seconds(s),
            owners: owners.holders(s.inode),
            likely_owners: LikelyOwners::new(),
            closed_by: None,
            side: None,
        };
        if let Some(a) = &attribution {
            if s.state == TcpState::TimeWait {
                row.side = Some(a.side(s));
                row.closed_by = owners.closer(s.cookie);
                if row.closed_by.is_none() {
                    row.likely_owners = a.likely_owners(s, owners);
                }
            } else if !owners.by_inode.is_empty() && lost(s) {
                row.likely_owners = a.likely_owners(s, owners);
            }
        }
        if filter.matches_owners(&row, owners) {
            out.push(row);
        }
    }
    out
}

/// Every namespace's rows that pass `filter`, sorted (`sort_rows`), with
/// the owner index that names their processes.
pub struct Listing<'a> {
    pub rows: Vec<SocketRow<'a>>,
    pub owners: &'a OwnerIndex,
    /// Whether the rows come from several namespaces (each row says which).
    pub several_namespaces: bool,
}

impl Listing<'_> {
    pub fn process(&self, pid: u32) -> Option<&super::Process> {
        self.owners.process(pid)
    }
}

/// Every namespace's unfiltered, unsorted rows, in the snapshot's order:
/// what the trends and the rules both read, built once for the two.
pub(crate) fn rows_by_namespace(snap: &Snapshot) -> Vec<Vec<SocketRow<'_>>> {
    let several = snap.namespaces.len() > 1;
    snap.namespaces
        .iter()
        .map(|ns| {
            rows_of(
                ns,
                &snap.owners,
                several.then_some(ns.netns.inode),
                &RowFilter::default(),
            )
        })
        .collect()
}

/// The listing of a snapshot: the one way every view gets rows.
pub fn rows<'a>(snap: &'a Snapshot, filter: &RowFilter) -> Listing<'a> {
    let several = snap.namespaces.len() > 1;
    let mut rows = Vec::new();
    for ns in &snap.namespaces {
        rows.extend(rows_of(
            ns,
            &snap.owners,
            several.then_some(ns.netns.inode),
            filter,
        ));
    }
    sort_rows(&mut rows);
    Listing {
        rows,
        owners: &snap.owners,
        several_namespaces: several,
    }
}

/// The inodes whose owners `rows_of` will look up for these sockets.
pub(crate) fn wanted_inodes(all: &[Socket], filter: &RowFilter) -> HashSet<u64> {
    let attribution = all
        .iter()
        .any(|s| s.state == TcpState::TimeWait)
        .then(|| Attribution::new(all));
    // Listeners always: the likely owner of a short connection on their
    // port (see `rows_of`).
    let mut set: HashSet<u64> = all
        .iter()
        .filter(|s| s.state == TcpState::Listen && s.inode != 0)
        .map(|s| s.inode)
        .collect();
    for s in all.iter().filter(|s| filter.matches_socket(s)) {
        if s.inode != 0 {
            set.insert(s.inode);
        }
        if s.state == TcpState::TimeWait
            && let Some(a) = &attribution
        {
            set.extend(a.evidence_inodes(s));
        }
    }
    set
}

/// Sorts rows by state (kernel order), oldest first within a state, then
/// by remote and local endpoint.
fn sort_rows(rows: &mut [SocketRow<'_>]) {
    // Unstable: the key is total (inode last), and it needs no buffer.
    rows.sort_unstable_by(|a, b| listing_order(a.socket, a.age_s, b.socket, b.age_s));
}

/// The order of a listing: by state (kernel order), oldest first within a
/// state, then by remote and local endpoint and inode.
pub(crate) fn listing_order(
    a: &Socket,
    a_age: Option<f64>,
    b: &Socket,
    b_age: Option<f64>,
) -> std::cmp::Ordering {
    a.state
        .cmp(&b.state)
        .then_with(|| b_age.unwrap_or(-1.0).total_cmp(&a_age.unwrap_or(-1.0)))
        .then_with(|| a.remote.cmp(&b.remote))
        .then_with(|| a.local.cmp(&b.local))
        .then_with(|| a.inode.cmp(&b.inode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FdRef, Process};
    use std::net::Ipv4Addr;

    fn ep(a: u8, port: u16) -> Endpoint {
        Endpoint::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, a)), port)
    }

    fn sock(state: TcpState, local: Endpoint, remote: Endpoint, inode: u64) -> Socket {
        let mut s = Socket::new(state, local, remote);
        s.inode = inode;
        s
    }

    fn ns(sockets: Vec<Socket>) -> NsSnapshot {
        NsSnapshot {
            sockets,
            ..NsSnapshot::default()
        }
    }

    fn index(entries: &[(u64, u32, u32, &str)]) -> OwnerIndex {
        let mut idx = OwnerIndex::default();
        for (ino, pid, fd, comm) in entries {
            idx.by_inode
                .entry(*ino)
                .or_default()
                .push(FdRef { pid: *pid, fd: *fd });
            idx.processes.insert(
                *pid,
                Process {
                    pid: *pid,
                    comm: comm.to_string(),
                    ..Process::default()
                },
            );
        }
        idx
    }

    #[test]
    fn time_wait_age_is_sixty_seconds_minus_the_timer() {
        let mut s = sock(TcpState::TimeWait, ep(1, 40000), ep(2, 80), 0);
        s.timer = Timer::TimeWait;
        s.timer_ms = 41_500;
        assert_eq!(age_seconds(&s), Some(18.5));
        s.timer = Timer::None;
        assert_eq!(age_seconds(&s), None);
    }

    #[test]
    fn inbound_time_wait_goes_to_the_listener_and_outbound_to_peers_of_the_same_upstream() {
        let all = vec![
            sock(
                TcpState::Listen,
                Endpoint::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 80),
                Endpoint::UNSPECIFIED_V4,
                10,
            ),
            sock(TcpState::TimeWait, ep(1, 80), ep(9, 51000), 0),
            sock(TcpState::Established, ep(1, 40001), ep(5, 5432), 20),
            sock(TcpState::TimeWait, ep(1, 40002), ep(5, 5432), 0),
            sock(TcpState::TimeWait, ep(1, 40003), ep(6, 6379), 0),
        ];
        let idx = index(&[
            (10, 100, 3, "nginx"),
            (10, 101, 3, "nginx"),
            (20, 200, 7, "app"),
        ]);
        let n = ns(all.clone());
        let rows = rows_of(&n, &idx, None, &RowFilter::default());
        let tw: Vec<&SocketRow> = rows
            .iter()
            .filter(|r| r.socket.state == TcpState::TimeWait)
            .collect();
        assert_eq!(tw[0].side, Some(Side::Inbound));
        assert_eq!(tw[0].likely_owners.as_slice(), &[100, 101]);
        assert_eq!(tw[1].side, Some(Side::Outbound));
        assert_eq!(tw[1].likely_owners.as_slice(), &[200]);
        assert_eq!(tw[2].side, Some(Side::Outbound));
        assert!(tw[2].likely_owners.is_empty(), "no evidence, no guess");
        assert!(tw.iter().all(|r| r.owners.is_empty()));
        let wanted = wanted_inodes(
            &all,
            &RowFilter {
                states: Some([TcpState::TimeWait].into_iter().collect()),
                ..RowFilter::default()
            },
        );
        assert_eq!(wanted, [10, 20].into_iter().collect());
    }

    /// A connection that had a file at the dump but none at the owner scan
    /// (closed in between) gets a likely owner: the listener's process on
    /// a listening port, else the processes talking to the same peer.
    #[test]
    fn short_connections_closed_before_the_scan_get_a_likely_owner() {
        let all = vec![
            sock(TcpState::Listen, ep(1, 80), Endpoint::UNSPECIFIED_V4, 10),
            sock(TcpState::Established, ep(1, 80), ep(2, 50000), 11),
            sock(TcpState::Established, ep(1, 40001), ep(5, 5432), 20),
            sock(TcpState::Established, ep(1, 40002), ep(5, 5432), 21),
        ];
        let idx = index(&[(10, 100, 3, "nginx"), (20, 200, 7, "app")]);
        let n = ns(all);
        let rows = rows_of(&n, &idx, None, &RowFilter::default());
        let by_inode = |i: u64| rows.iter().find(|r| r.socket.inode == i).expect("row");
        assert!(by_inode(11).owners.is_empty());
        assert_eq!(
            by_inode(11).likely_owners.as_slice(),
            &[100],
            "the listener"
        );
        assert_eq!(
            by_inode(21).likely_owners.as_slice(),
            &[200],
            "a sibling's process"
        );
        assert!(by_inode(20).likely_owners.is_empty(), "it has a real owner");
        // Without an owner scan nothing is guessed.
        let none = OwnerIndex::default();
        let rows = rows_of(&n, &none, None, &RowFilter::default());
        assert!(rows.iter().all(|r| r.likely_owners.is_empty()));
    }

    #[test]
    fn owner_filters_match_owners_and_likely_owners() {
        let all = vec![
            sock(TcpState::Listen, ep(1, 80), Endpoint::UNSPECIFIED_V4, 10),
            sock(TcpState::CloseWait, ep(1, 80), ep(2, 50000), 11),
            sock(TcpState::TimeWait, ep(1, 80), ep(2, 50001), 0),
            sock(TcpState::CloseWait, ep(1, 80), ep(2, 50002), 12),
        ];
        let idx = index(&[
            (10, 100, 3, "nginx"),
            (11, 100, 9, "nginx"),
            (12, 300, 4, "java"),
        ]);
        let f = RowFilter {
            comms: vec!["nginx".into()],
            ..RowFilter::default()
        };
        let n = ns(all);
        let rows = rows_of(&n, &idx, None, &f);
        assert_eq!(
            rows.len(),
            3,
            "listener, its CLOSE_WAIT, and the TIME_WAIT it likely closed"
        );
        let f = RowFilter {
            pids: vec![300],
            ..RowFilter::default()
        };
        assert_eq!(rows_of(&n, &idx, None, &f).len(), 1);
    }

    #[test]
    fn remote_and_port_filters() {
        let s = sock(TcpState::Established, ep(1, 40000), ep(2, 443), 1);
        let mut f = RowFilter {
            remote_ip: Some(ep(2, 0).ip),
            ..RowFilter::default()
        };
        assert!(f.matches_socket(&s));
        f.remote_port = Some(80);
        assert!(!f.matches_socket(&s));
        let f = RowFilter {
            port: Some(40000),
            ..RowFilter::default()
        };
        assert!(f.matches_socket(&s));
        let f = RowFilter {
            sport: Some(443),
            ..RowFilter::default()
        };
        assert!(!f.matches_socket(&s));
    }
}
