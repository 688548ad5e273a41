//! Collection across network namespaces, with owners when a command needs
//! them. Commands call these; rules and renderers never do I/O.

use crate::census::{Census, CensusReport, GroupBy, GroupKey, MultiCensus};
use crate::collect::netns::{self, NetnsInfo, NetnsSelector};
use crate::collect::owners::{self, InodeFilter, OwnerIndex};
use crate::collect::{self, CollectReport, ProcRoot, SocketQuery, SourceChoice};
use crate::error::{Error, Result};
use crate::listing::{self, RowFilter, SocketRow};
use crate::model::{Process, Socket, StateSet, TcpState};
use std::collections::HashSet;

/// The sockets of one namespace.
pub struct NsSockets {
    pub netns: NetnsInfo,
    pub sockets: Vec<Socket>,
    pub collected: CollectReport,
}

/// Resolves `sel`, failing only when nothing at all can be read.
fn namespaces(root: &ProcRoot, sel: &NetnsSelector) -> Result<(Vec<NetnsInfo>, Vec<String>)> {
    if *sel == NetnsSelector::Current && !root.is_live() {
        // A captured tree has no namespaces to enter: read it as it is.
        let ns = NetnsInfo {
            inode: 0,
            name: None,
            pid: None,
            comm: None,
            cgroup: None,
            current: true,
            path: root.path("net"),
        };
        return Ok((vec![ns], Vec::new()));
    }
    netns::resolve(root, sel)
}

/// Results per namespace, and notes on the namespaces that were skipped.
type PerNamespace<T> = (Vec<(NetnsInfo, T)>, Vec<String>);

/// Runs `f` in every namespace of `sel`. A namespace that cannot be entered
/// is a note, unless it was the only one asked for.
fn for_each_namespace<T: Send>(
    root: &ProcRoot,
    sel: &NetnsSelector,
    f: impl Fn(&NetnsInfo) -> Result<T> + Sync,
) -> Result<PerNamespace<T>> {
    let (list, mut notes) = namespaces(root, sel)?;
    let single = list.len() == 1;
    let mut out = Vec::new();
    for ns in list {
        match netns::run_in(&ns, || f(&ns)).and_then(|r| r) {
            Ok(v) => out.push((ns, v)),
            Err(e) if !single => notes.push(format!("skipped {}: {e}", ns.label())),
            Err(e) => return Err(e),
        }
    }
    Ok((out, notes))
}

/// Collects the sockets `query` asks for in every namespace of `sel`.
pub fn sockets(
    root: &ProcRoot,
    sel: &NetnsSelector,
    query: &SocketQuery,
    choice: SourceChoice,
) -> Result<(Vec<NsSockets>, Vec<String>)> {
    let (found, notes) = for_each_namespace(root, sel, |_| {
        let mut v: Vec<Socket> = Vec::new();
        let r = collect::collect_sockets(root, query, choice, &mut v)?;
        Ok((v, r))
    })?;
    let list = found
        .into_iter()
        .map(|(netns, (sockets, collected))| NsSockets {
            netns,
            sockets,
            collected,
        })
        .collect();
    Ok((list, notes))
}

/// One owner scan for the sockets of several namespaces (socket inodes are
/// unique across namespaces, and /proc/*/fd spans them all).
pub fn owners_for(root: &ProcRoot, per_ns: &[NsSockets], filter: &RowFilter) -> Result<OwnerIndex> {
    let mut wanted = HashSet::new();
    for ns in per_ns {
        wanted.extend(listing::wanted_inodes(&ns.sockets, filter));
    }
    owners::scan(root, &InodeFilter::Only(wanted)).map_err(|e| Error::io(root.root(), e))
}

/// The query that `filter` needs: every state when TIME_WAIT may be listed
/// (its attribution looks at listeners and connections), tcp_info when
/// CLOSE_WAIT may be (its age comes from there).
pub fn query_for(filter: &RowFilter, ipv4: bool, ipv6: bool) -> SocketQuery {
    let wants = |s| filter.states.is_none_or(|set: StateSet| set.contains(s));
    SocketQuery {
        states: if wants(TcpState::TimeWait) {
            StateSet::all()
        } else {
            filter.states.unwrap_or_else(StateSet::all)
        },
        ipv4,
        ipv6,
        tcp_info: wants(TcpState::CloseWait),
    }
}

/// Everything `tcpdoctor sockets` shows.
pub struct Listing {
    pub rows: Vec<SocketRow>,
    pub namespaces: Vec<NetnsInfo>,
    pub owners: Option<OwnerIndex>,
    pub notes: Vec<String>,
}

impl Listing {
    pub fn process(&self, pid: u32) -> Option<&Process> {
        self.owners.as_ref()?.process(pid)
    }
}

/// Lists the sockets that pass `filter`, sorted, in every namespace of `sel`.
pub fn listing(
    root: &ProcRoot,
    sel: &NetnsSelector,
    filter: &RowFilter,
    query: &SocketQuery,
    with_owners: bool,
) -> Result<Listing> {
    let (per_ns, mut notes) = sockets(root, sel, query, SourceChoice::Auto)?;
    let owners = if with_owners || filter.needs_owners() {
        let idx = owners_for(root, &per_ns, filter)?;
        notes.extend(idx.hidden_note());
        Some(idx)
    } else {
        None
    };
    let several = per_ns.len() > 1;
    let mut rows = Vec::new();
    for ns in &per_ns {
        notes.extend(ns.collected.notes.iter().cloned());
        let label = several.then_some(ns.netns.inode);
        rows.extend(listing::build_rows(
            &ns.sockets,
            owners.as_ref(),
            label,
            filter,
        ));
    }
    listing::sort_rows(&mut rows);
    Ok(Listing {
        rows,
        namespaces: per_ns.into_iter().map(|n| n.netns).collect(),
        owners,
        notes,
    })
}

/// The result of a census: one namespace, or several and their sum.
pub enum CensusOutcome {
    Single(Box<CensusReport>),
    Multi(MultiCensus),
}

/// The census of every namespace of `sel`.
pub fn census(
    root: &ProcRoot,
    sel: &NetnsSelector,
    query: &SocketQuery,
    choice: SourceChoice,
    by: Option<GroupBy>,
    top: usize,
) -> Result<CensusOutcome> {
    let labelled = *sel != NetnsSelector::Current;
    let (mut reports, notes) = if by == Some(GroupBy::Process) {
        census_by_process(root, sel, query, choice, top)?
    } else {
        let (found, notes) = for_each_namespace(root, sel, |_| {
            let mut c = Census::new(by);
            let r = collect::collect_sockets(root, query, choice, &mut c)?;
            Ok(CensusReport::new(&c, top, r))
        })?;
        let reports = found
            .into_iter()
            .map(|(ns, mut r)| {
                r.netns = Some(ns);
                r
            })
            .collect::<Vec<_>>();
        (reports, notes)
    };
    if !labelled {
        for r in &mut reports {
            r.netns = None;
        }
    }
    if reports.len() == 1 && *sel != NetnsSelector::All {
        let mut r = reports.remove(0);
        r.notes.extend(notes);
        return Ok(CensusOutcome::Single(Box::new(r)));
    }
    let mut sum = Census::new(None);
    let mut total = 0;
    for r in &reports {
        for (s, n) in &r.states {
            sum.add_count(*s, *n);
        }
        total += r.total;
    }
    Ok(CensusOutcome::Multi(MultiCensus {
        total,
        states: sum.states(),
        namespaces: reports,
        notes,
    }))
}

fn census_by_process(
    root: &ProcRoot,
    sel: &NetnsSelector,
    query: &SocketQuery,
    choice: SourceChoice,
    top: usize,
) -> Result<(Vec<CensusReport>, Vec<String>)> {
    // Attribution needs listeners and connections, whatever is counted.
    let all = SocketQuery {
        states: StateSet::all(),
        ..*query
    };
    let (per_ns, mut notes) = sockets(root, sel, &all, choice)?;
    let filter = RowFilter {
        states: Some(query.states),
        ..RowFilter::default()
    };
    let idx = owners_for(root, &per_ns, &filter)?;
    notes.extend(idx.hidden_note());
    let mut reports = Vec::new();
    for ns in per_ns {
        let mut c = Census::new(Some(GroupBy::Process));
        let mut pids = HashSet::new();
        for row in listing::build_rows(&ns.sockets, Some(&idx), None, &filter) {
            let key = if let Some(o) = row.owners.first() {
                GroupKey::Process(o.pid)
            } else if let Some(o) = row.likely_owners.first() {
                GroupKey::LikelyProcess(o.pid)
            } else {
                GroupKey::NoOwner
            };
            if let GroupKey::Process(p) | GroupKey::LikelyProcess(p) = key {
                pids.insert(p);
            }
            c.add_keyed(row.socket.state, key);
        }
        let mut r = CensusReport::new(&c, top, ns.collected);
        let shown: HashSet<u32> = r
            .groups
            .iter()
            .flat_map(|g| g.top.iter())
            .filter_map(|(k, _)| match k {
                GroupKey::Process(p) | GroupKey::LikelyProcess(p) => Some(*p),
                _ => None,
            })
            .collect();
        let mut procs: Vec<Process> = shown
            .iter()
            .filter_map(|p| idx.process(*p).cloned())
            .collect();
        procs.sort_by_key(|p| p.pid);
        r.processes = procs;
        r.netns = Some(ns.netns);
        reports.push(r);
    }
    Ok((reports, notes))
}
