//! Counting sockets per state, optionally per group (remote endpoint, local
//! port, local IP). A `Census` is a `SocketSink`: it keeps counts, never the
//! sockets, so memory stays flat however many there are.

use super::{
    Closer, CollectReport, Endpoint, NetnsInfo, OwnerIndex, Process, Socket, SocketRow, SocketSink,
    SourceUsed, TcpState,
};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;

/// What `--by` groups by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupBy {
    Remote,
    LocalPort,
    LocalIp,
    /// The owning process; TIME_WAIT under its likely owner. Needs the
    /// owner scan, so the census of it is built from listing rows.
    Process,
}

impl GroupBy {
    pub(crate) fn name(self) -> &'static str {
        match self {
            GroupBy::Remote => "remote",
            GroupBy::LocalPort => "local-port",
            GroupBy::LocalIp => "local-ip",
            GroupBy::Process => "process",
        }
    }

    /// The key of a socket, for groupings that need nothing but the socket.
    fn key(self, s: &Socket) -> Option<GroupKey> {
        match self {
            GroupBy::Remote => Some(GroupKey::Endpoint(s.remote)),
            GroupBy::LocalPort => Some(GroupKey::Port(s.local.port)),
            GroupBy::LocalIp => Some(GroupKey::Ip(s.local.ip)),
            GroupBy::Process => None,
        }
    }
}

impl FromStr for GroupBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "remote" => Ok(GroupBy::Remote),
            "local-port" => Ok(GroupBy::LocalPort),
            "local-ip" => Ok(GroupBy::LocalIp),
            "process" => Ok(GroupBy::Process),
            _ => Err(format!(
                "unknown grouping '{s}': expected remote, local-port, local-ip or process"
            )),
        }
    }
}

/// One group's key. Plain `Copy` data: no allocation per socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupKey {
    Endpoint(Endpoint),
    Port(u16),
    Ip(IpAddr),
    /// A process that holds the socket.
    Process(u32),
    /// A process that likely closed a TIME_WAIT socket.
    LikelyProcess(u32),
    /// The process that closed a TIME_WAIT socket, seen by the tracer.
    ClosedBy(u32),
    /// No owner found (none exists, or it is hidden from this user).
    NoOwner,
}

impl GroupKey {
    /// How the key reads to a person; `names` maps pids to their comm.
    pub(crate) fn label(&self, names: &HashMap<u32, String>) -> String {
        let proc_name = |pid: &u32| match names.get(pid) {
            Some(c) => format!("{pid}/{c}"),
            None => pid.to_string(),
        };
        match self {
            GroupKey::Endpoint(e) => e.to_string(),
            GroupKey::Port(p) => p.to_string(),
            GroupKey::Ip(ip) => ip.to_string(),
            GroupKey::Process(pid) => proc_name(pid),
            GroupKey::LikelyProcess(pid) => format!("{} (likely)", proc_name(pid)),
            GroupKey::ClosedBy(pid) => format!("{} (closed it)", proc_name(pid)),
            GroupKey::NoOwner => "(no owner found)".to_string(),
        }
    }
}

/// Counts per state (and per group), filled by streaming sockets into it.
#[derive(Clone, Debug, Default)]
pub struct Census {
    /// Indexed by the kernel state number.
    counts: [u64; 16],
    group_by: Option<GroupBy>,
    groups: HashMap<(TcpState, GroupKey), u64>,
}

impl Census {
    pub fn new(group_by: Option<GroupBy>) -> Census {
        Census {
            group_by,
            ..Census::default()
        }
    }

    pub(crate) fn count(&self, s: TcpState) -> u64 {
        self.counts[s.kernel_number() as usize]
    }

    /// Counts one socket under an explicit key (for `GroupBy::Process`).
    fn add_keyed(&mut self, state: TcpState, key: GroupKey) {
        self.add_keyed_n(state, key, 1);
    }

    /// Counts `n` sockets under an explicit key.
    fn add_keyed_n(&mut self, state: TcpState, key: GroupKey, n: u64) {
        self.counts[state.kernel_number() as usize] += n;
        *self.groups.entry((state, key)).or_insert(0) += n;
    }

    /// Adds `n` sockets of `state` (summing several namespaces' counts).
    pub(crate) fn add_count(&mut self, state: TcpState, n: u64) {
        self.counts[state.kernel_number() as usize] += n;
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Non-zero states, largest first (ties in kernel order).
    pub fn states(&self) -> Vec<(TcpState, u64)> {
        let mut v: Vec<(TcpState, u64)> = TcpState::ALL
            .iter()
            .map(|s| (*s, self.count(*s)))
            .filter(|(_, n)| *n > 0)
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }

    /// The `top` largest groups of each state, states largest first.
    pub fn top_groups(&self, top: usize) -> Vec<StateGroups> {
        let mut per_state: HashMap<TcpState, Vec<(GroupKey, u64)>> = HashMap::new();
        for ((state, key), n) in &self.groups {
            per_state.entry(*state).or_default().push((*key, *n));
        }
        self.states()
            .into_iter()
            .filter_map(|(state, _)| {
                let mut g = per_state.remove(&state)?;
                let distinct = g.len();
                g.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                g.truncate(top);
                Some(StateGroups {
                    state,
                    distinct,
                    top: g,
                })
            })
            .collect()
    }

    pub(crate) fn group_by(&self) -> Option<GroupBy> {
        self.group_by
    }
}

impl SocketSink for Census {
    #[inline]
    fn socket(&mut self, s: &Socket) {
        self.counts[s.state.kernel_number() as usize] += 1;
        if let Some(key) = self.group_by.and_then(|by| by.key(s)) {
            *self.groups.entry((s.state, key)).or_insert(0) += 1;
        }
    }

    fn restart(&mut self) {
        self.counts = [0; 16];
        self.groups.clear();
    }
}

/// The biggest groups of one state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateGroups {
    pub state: TcpState,
    /// How many distinct keys this state has in all.
    pub distinct: usize,
    pub top: Vec<(GroupKey, u64)>,
}

/// A finished census of one namespace (or of the current one), ready to
/// render.
#[derive(Clone, Debug)]
pub struct CensusReport {
    pub total: u64,
    pub states: Vec<(TcpState, u64)>,
    pub group_by: Option<GroupBy>,
    pub groups: Vec<StateGroups>,
    pub source: SourceUsed,
    pub notes: Vec<String>,
    pub hint: Option<String>,
    /// Which namespace, when the user asked for one or for all.
    pub netns: Option<NetnsInfo>,
    /// With `--by process`: the processes named in `groups`, with their fd
    /// use, limits and cgroup.
    pub processes: Vec<Process>,
}

/// The census per owning process of listing rows: each socket under its
/// first owner, a TIME_WAIT under its likely closer (marked so), the rest
/// under "no owner", with `unowned` more sockets per state that were
/// counted, not listed. The report names the processes its groups show.
pub(crate) fn by_process<'a>(
    rows: impl IntoIterator<Item = SocketRow<'a>>,
    owners: &OwnerIndex,
    top: usize,
    unowned: &[(TcpState, u64)],
    collected: CollectReport,
) -> CensusReport {
    let mut c = Census::new(Some(GroupBy::Process));
    for (state, n) in unowned {
        c.add_keyed_n(*state, GroupKey::NoOwner, *n);
    }
    let mut closers: HashMap<u32, &Closer> = HashMap::new();
    for row in rows {
        let key = match (row.owners.first(), row.closed_by, row.likely_owners.first()) {
            (Some(o), _, _) => GroupKey::Process(o.pid),
            (None, Some(c), _) => {
                closers.entry(c.pid).or_insert(c);
                GroupKey::ClosedBy(c.pid)
            }
            (None, None, Some(p)) => GroupKey::LikelyProcess(*p),
            _ => GroupKey::NoOwner,
        };
        c.add_keyed(row.socket.state, key);
    }
    let mut r = CensusReport::new(&c, top, collected);
    let shown: std::collections::BTreeSet<u32> = r
        .groups
        .iter()
        .flat_map(|g| g.top.iter())
        .filter_map(|(k, _)| match k {
            GroupKey::Process(p) | GroupKey::LikelyProcess(p) | GroupKey::ClosedBy(p) => Some(*p),
            _ => None,
        })
        .collect();
    // A closer may have exited: the tracer kept its name and cgroup.
    r.processes = shown
        .iter()
        .filter_map(|p| {
            owners.process(*p).cloned().or_else(|| {
                closers.get(p).map(|c| Process {
                    pid: c.pid,
                    comm: c.comm.clone(),
                    cgroup: c.cgroup.clone(),
                    ..Process::default()
                })
            })
        })
        .collect();
    r
}

/// A state must hold this share of all non-LISTEN sockets, and at least
/// `HINT_MIN_COUNT` of them, before the census calls it dominant.
const HINT_DOMINANT_SHARE: f64 = 0.5;
const HINT_MIN_COUNT: u64 = 100;

impl CensusReport {
    pub(crate) fn new(census: &Census, top: usize, collected: CollectReport) -> CensusReport {
        let states = census.states();
        let hint = dominance_hint(&states);
        CensusReport {
            total: census.total(),
            states,
            group_by: census.group_by(),
            groups: if census.group_by().is_some() {
                census.top_groups(top)
            } else {
                Vec::new()
            },
            source: collected.source,
            notes: collected.notes,
            hint,
            netns: None,
            processes: Vec::new(),
        }
    }

    /// pid -> comm of the processes named in the groups.
    pub(crate) fn names(&self) -> HashMap<u32, String> {
        self.processes
            .iter()
            .map(|p| (p.pid, p.comm.clone()))
            .collect()
    }
}

/// A one-line hint when TIME_WAIT or CLOSE_WAIT dominate the connections.
fn dominance_hint(states: &[(TcpState, u64)]) -> Option<String> {
    let conns: u64 = states
        .iter()
        .filter(|(s, _)| *s != TcpState::Listen)
        .map(|(_, n)| n)
        .sum();
    let share = |state| {
        let n = states
            .iter()
            .find(|(s, _)| *s == state)
            .map_or(0, |(_, n)| *n);
        (n >= HINT_MIN_COUNT && n as f64 >= HINT_DOMINANT_SHARE * conns as f64).then_some(n)
    };
    if let Some(n) = share(TcpState::CloseWait) {
        return Some(format!(
            "hint: {n} CLOSE_WAIT: the peers closed and the owning processes never called close(). \
                That is an application bug, not a kernel setting; find them with `tcpdoctor \
                sockets --state close-wait`."
        ));
    }
    if let Some(n) = share(TcpState::TimeWait) {
        return Some(format!(
            "hint: {n} TIME_WAIT: this host closed those connections first. Each costs ~168 bytes \
                and lasts 60 s; it matters only when ephemeral ports run out. See `tcpdoctor \
                census --state time-wait --by remote`."
        ));
    }
    None
}

struct StatesJson<'a>(&'a [(TcpState, u64)]);

impl Serialize for StatesJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (state, n) in self.0 {
            m.serialize_entry(state.netstat_name(), n)?;
        }
        m.end()
    }
}

struct GroupsJson<'a>(&'a [StateGroups], &'a HashMap<u32, String>);

impl Serialize for GroupsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Entry {
            key: String,
            count: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            pid: Option<u32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            likely: Option<bool>,
            /// A tracer saw this process close them.
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            exact: bool,
        }
        #[derive(Serialize)]
        struct Of {
            distinct: usize,
            top: Vec<Entry>,
        }
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for g in self.0 {
            let top = g
                .top
                .iter()
                .map(|(key, count)| {
                    let (pid, likely) = match key {
                        GroupKey::Process(p) | GroupKey::ClosedBy(p) => (Some(*p), Some(false)),
                        GroupKey::LikelyProcess(p) => (Some(*p), Some(true)),
                        _ => (None, None),
                    };
                    Entry {
                        key: key.label(self.1),
                        count: *count,
                        pid,
                        likely,
                        exact: matches!(key, GroupKey::ClosedBy(_)),
                    }
                })
                .collect();
            m.serialize_entry(
                g.state.netstat_name(),
                &Of {
                    distinct: g.distinct,
                    top,
                },
            )?;
        }
        m.end()
    }
}

impl Serialize for CensusReport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let names = self.names();
        let mut st = s.serialize_struct("CensusReport", 9)?;
        st.serialize_field("total", &self.total)?;
        st.serialize_field("states", &StatesJson(&self.states))?;
        if let Some(ns) = &self.netns {
            st.serialize_field("netns", ns)?;
        }
        if let Some(by) = self.group_by {
            st.serialize_field("by", by.name())?;
            st.serialize_field("groups", &GroupsJson(&self.groups, &names))?;
        }
        if !self.processes.is_empty() {
            st.serialize_field("processes", &self.processes)?;
        }
        st.serialize_field("source", &self.source)?;
        st.serialize_field("notes", &self.notes)?;
        st.end()
    }
}

/// The result of a census: one namespace, or several and their sum.
pub enum CensusOutcome {
    Single(Box<CensusReport>),
    Multi(MultiCensus),
}

/// The census of several namespaces: their sum, then each one.
#[derive(Clone, Debug)]
pub struct MultiCensus {
    pub total: u64,
    pub states: Vec<(TcpState, u64)>,
    pub namespaces: Vec<CensusReport>,
    /// Namespaces that could not be read, and why.
    pub notes: Vec<String>,
}

impl Serialize for MultiCensus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("MultiCensus", 4)?;
        st.serialize_field("total", &self.total)?;
        st.serialize_field("states", &StatesJson(&self.states))?;
        st.serialize_field("namespaces", &self.namespaces)?;
        st.serialize_field("notes", &self.notes)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn sock(state: TcpState, rport: u16) -> Socket {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        Socket::new(state, Endpoint::new(ip, 40000), Endpoint::new(ip, rport))
    }

    #[test]
    fn counts_sort_largest_first_and_restart_forgets() {
        let mut c = Census::new(Some(GroupBy::Remote));
        for _ in 0..3 {
            c.socket(&sock(TcpState::TimeWait, 80));
        }
        c.socket(&sock(TcpState::TimeWait, 443));
        c.socket(&sock(TcpState::Established, 80));
        assert_eq!(c.total(), 5);
        assert_eq!(
            c.states(),
            vec![(TcpState::TimeWait, 4), (TcpState::Established, 1)]
        );
        let g = c.top_groups(1);
        assert_eq!(g[0].state, TcpState::TimeWait);
        assert_eq!(g[0].distinct, 2);
        assert_eq!(
            g[0].top,
            vec![(GroupKey::Endpoint(sock(TcpState::TimeWait, 80).remote), 3)]
        );
        c.restart();
        assert_eq!(c.total(), 0);
        assert!(c.top_groups(5).is_empty());
    }

    #[test]
    fn hint_only_when_a_bad_state_dominates() {
        assert!(
            dominance_hint(&[(TcpState::TimeWait, 900), (TcpState::Established, 100)])
                .is_some_and(|h| h.contains("900 TIME_WAIT"))
        );
        assert!(dominance_hint(&[(TcpState::TimeWait, 50)]).is_none());
        assert!(
            dominance_hint(&[(TcpState::Established, 900), (TcpState::TimeWait, 100)]).is_none()
        );
        assert!(
            dominance_hint(&[(TcpState::CloseWait, 150), (TcpState::Listen, 9000)])
                .is_some_and(|h| h.contains("close()"))
        );
    }
}
