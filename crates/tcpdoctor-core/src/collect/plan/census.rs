//! The census plans: states counted per namespace (in the kernel where
//! it can, else streamed from a dump), or per owning process.

use super::{estimate_sockets, for_each_namespace, namespaces, sockets_and_owners};
use crate::collect::bpf::census::KernelCensus;
use crate::collect::bpf::owners::{IterOwners, PassSocket};
use crate::collect::owners::InodeFilter;
use crate::collect::{ProcRoot, SocketQuery, SourceChoice, collect_sockets};
use crate::error::{Error, Result};
use crate::model::{
    Census, CensusOutcome, CensusReport, CollectReport, GroupBy, MultiCensus, NetnsSelector,
    NsSnapshot, RowFilter, Socket, StateSet, TcpState, by_process, rows_of,
};
use std::collections::HashMap;

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
        // Loading the eBPF census costs ~14 ms; below ~25k sockets the
        // netlink dump is done sooner (docs/benchmarks.md).
        let small =
            *sel == NetnsSelector::Current && estimate_sockets(root) < KERNEL_CENSUS_MIN_SOCKETS;
        let (iter, why_not) = if small && choice == SourceChoice::Auto {
            (None, None)
        } else {
            census_iterator(root, choice, by)?
        };
        let (found, mut notes) = for_each_namespace(namespaces(root, sel)?, |_| {
            let mut c = Census::new(by);
            let r = count_into(root, query, choice, iter, &mut c)?;
            Ok(CensusReport::new(&c, top, r))
        })?;
        notes.extend(why_not);
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

/// Below this many sockets (sockstat's estimate) a one-off census of the
/// current namespace goes over netlink: loading the hash walk (libbpf's
/// relocations against the kernel's BTF, the verifier, one pass over the
/// empty buckets) costs ~14 ms, and it saves ~0.57 µs a socket.
const KERNEL_CENSUS_MIN_SOCKETS: usize = 25_000;

/// Counts the sockets of the calling thread's namespace into `census`: in
/// the kernel when `iter` is given (states and families only), else
/// streamed from `choice`'s source.
pub(crate) fn count_into(
    root: &ProcRoot,
    query: &SocketQuery,
    choice: SourceChoice,
    iter: Option<KernelCensus>,
    census: &mut Census,
) -> Result<CollectReport> {
    if let Some(it) = iter {
        let (counts, source, notes) = it.count().map_err(|e| Error::io("the eBPF census", e))?;
        counts.add_to(census, query.states, query.ipv4, query.ipv6);
        return Ok(CollectReport { source, notes });
    }
    collect_sockets(root, query, choice, census)
}

/// The eBPF census for a plain census of the live host, when it loads; else
/// why not, as a note when the user left the choice to us.
pub(crate) fn census_iterator(
    root: &ProcRoot,
    choice: SourceChoice,
    by: Option<GroupBy>,
) -> Result<(Option<KernelCensus>, Option<String>)> {
    let wanted = match choice {
        SourceChoice::Bpf if by.is_some() || !root.is_live() => {
            return Err(Error::Unsupported(
                "the eBPF census counts states only: no --by, and a live host".into(),
            ));
        }
        SourceChoice::Bpf => true,
        SourceChoice::Auto => by.is_none() && root.is_live(),
        SourceChoice::Netlink | SourceChoice::Proc => false,
    };
    if !wanted {
        return Ok((None, None));
    }
    match KernelCensus::shared() {
        Ok(it) => Ok((Some(it), None)),
        Err(why) if choice == SourceChoice::Auto => Ok((
            None,
            Some(format!(
                "counted over netlink: the eBPF census is unavailable ({why})"
            )),
        )),
        Err(why) => Err(Error::Unsupported(format!("the eBPF census: {why}"))),
    }
}

fn census_by_process(
    root: &ProcRoot,
    sel: &NetnsSelector,
    query: &SocketQuery,
    choice: SourceChoice,
    top: usize,
) -> Result<(Vec<CensusReport>, Vec<String>)> {
    // Below KERNEL_CENSUS_MIN_SOCKETS the hash walk's load costs more than
    // the dump it saves; `--source bpf` asks for the kernel's counts.
    let big = *sel != NetnsSelector::Current || estimate_sockets(root) >= KERNEL_CENSUS_MIN_SOCKETS;
    if choice == SourceChoice::Bpf || (choice == SourceChoice::Auto && root.is_live() && big) {
        match census_by_process_in_one_pass(root, sel, query, top)? {
            Some(found) => return Ok(found),
            None if choice == SourceChoice::Bpf => {
                return Err(Error::Unsupported(
                    "census --by process --source bpf: the eBPF fd iterator or the kernel \
                     census cannot run here (tcpdoctor --version says why)"
                        .into(),
                ));
            }
            None => {}
        }
    }
    // Attribution needs listeners and connections, whatever is counted.
    let all = SocketQuery {
        states: StateSet::all(),
        ..*query
    };
    let filter = RowFilter {
        states: (!query.states.is_all()).then_some(query.states),
        ..RowFilter::default()
    };
    let targets = namespaces(root, sel)?;
    let (per_ns, idx, mut notes) = sockets_and_owners(root, targets, &all, choice, &filter, true)?;
    notes.extend(idx.hidden_note());
    let mut reports = Vec::new();
    for c in per_ns {
        let ns = NsSnapshot {
            netns: c.netns,
            sockets: c.sockets,
            ..NsSnapshot::default()
        };
        let rows = rows_of(&ns, &idx, None, &filter);
        let mut r = by_process(rows, &idx, top, &[], c.report);
        r.netns = Some(ns.netns);
        reports.push(r);
    }
    Ok((reports, notes))
}

/// `census --by process` without dumping every socket: the owned sockets
/// as the owner pass saw them (each under its first holder), TIME_WAIT
/// from a dump of that state alone (its closer, or its likely owner from
/// the pass's listeners and connections), and the sockets no process holds
/// (accept queues, orphans) counted in the kernel, as the kernel census of
/// each state less what the pass owned. None where the pass or the
/// kernel census cannot run: then the full dump is joined as before.
fn census_by_process_in_one_pass(
    root: &ProcRoot,
    sel: &NetnsSelector,
    query: &SocketQuery,
    top: usize,
) -> Result<Option<(Vec<CensusReport>, Vec<String>)>> {
    if !root.is_live() {
        return Ok(None);
    }
    let (Ok(pass), Ok(kernel)) = (IterOwners::shared(), KernelCensus::shared()) else {
        return Ok(None);
    };
    let targets = namespaces(root, sel)?;
    let time_wait = SocketQuery {
        states: StateSet::from_iter([TcpState::TimeWait]),
        tcp_info: StateSet::empty(),
        ..*query
    };
    let (counted, scanned) = std::thread::scope(|s| {
        let scan = s.spawn(|| pass.scan(root, &InodeFilter::All));
        let counted = for_each_namespace(targets, |_| {
            let (counts, source, notes) = kernel
                .count()
                .map_err(|e| Error::io("the eBPF census", e))?;
            let mut tw: Vec<Socket> = Vec::new();
            if counts.get(TcpState::TimeWait, query.ipv4, query.ipv6) > 0
                && query.states.contains(TcpState::TimeWait)
            {
                collect_sockets(root, &time_wait, SourceChoice::Netlink, &mut tw)?;
            }
            Ok((counts, tw, CollectReport { source, notes }))
        });
        (counted, scan.join())
    });
    let (per_ns, mut notes) = counted?;
    let mut pass = match scanned {
        Ok(Ok(p)) => p,
        // The joined path falls back to /proc and says why.
        Ok(Err(_)) => return Ok(None),
        Err(p) => std::panic::resume_unwind(p),
    };
    pass.owners.source = Some(crate::model::OwnerSource::Ebpf);
    let idx = pass.owners;
    notes.extend(idx.hidden_note());
    let wanted = |s: &Socket| {
        if s.local.ip.is_ipv6() {
            query.ipv6
        } else {
            query.ipv4
        }
    };
    let mut by_ns: HashMap<u64, Vec<Socket>> = HashMap::new();
    if let [(only, _)] = per_ns.as_slice() {
        // One namespace (the usual case): its sockets in one allocation.
        let mut v = Vec::with_capacity(pass.sockets.len());
        v.extend(
            pass.sockets
                .into_iter()
                .filter(|p| p.netns == only.inode && wanted(&p.socket))
                .map(|p| p.socket),
        );
        by_ns.insert(only.inode, v);
    } else {
        for PassSocket { netns, socket } in pass.sockets {
            if wanted(&socket) {
                by_ns.entry(netns).or_default().push(socket);
            }
        }
    }
    let filter = RowFilter {
        states: (!query.states.is_all()).then_some(query.states),
        ..RowFilter::default()
    };
    let mut reports = Vec::new();
    for (netns, (counts, tw, report)) in per_ns {
        let mut sockets = by_ns.remove(&netns.inode).unwrap_or_default();
        let mut owned = [0u64; 16];
        for s in &sockets {
            owned[s.state.kernel_number() as usize] += 1;
        }
        // What the kernel counted beyond the pass's sockets has no file.
        let unowned: Vec<(TcpState, u64)> = TcpState::ALL
            .iter()
            .filter(|s| **s != TcpState::TimeWait && query.states.contains(**s))
            .map(|s| {
                let all = counts.get(*s, query.ipv4, query.ipv6);
                (*s, all.saturating_sub(owned[s.kernel_number() as usize]))
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        sockets.extend(tw);
        let ns = NsSnapshot {
            netns,
            sockets,
            ..NsSnapshot::default()
        };
        let rows = rows_of(&ns, &idx, None, &filter);
        let mut r = by_process(rows, &idx, top, &unowned, report);
        r.netns = Some(ns.netns);
        reports.push(r);
    }
    Ok(Some((reports, notes)))
}
