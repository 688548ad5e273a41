//! Collection plans: what to read, in which network namespaces, and in
//! what order, so that each command reads only what it needs.
//!
//! - `census`: streams each namespace's sockets into counters; no socket is
//!   kept (or, for `--by process`, a snapshot with owners).
//! - `snapshot`: sockets, owners, host facts and sysctl.conf settings, as
//!   far as `SnapshotPlan::needs` asks. `diagnose`, `sockets`, `snapshot`,
//!   the exporter and the lab all start here.
//!
//! One owner scan serves every namespace: socket inodes are unique across
//! namespaces, and /proc/*/fd spans them all.

mod census;

pub use census::census;
pub(crate) use census::{census_iterator, count_into};

use super::bpf::closers;
use super::bpf::owners::{IterOwners, Pass, PassSocket};
use super::netns;
use super::owners::{self, InodeFilter};
use super::{ProcRoot, SocketQuery, SourceChoice, collect_sockets, host, sysctl_conf};
use crate::error::{Error, Result};
use crate::model::{
    CollectReport, Needs, NetnsInfo, NetnsSelector, NsSnapshot, OwnerIndex, OwnerSource, RowFilter,
    Snapshot, Socket, SourceUsed, StateSet, TcpState, wanted_inodes,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Resolves `sel`, failing only when nothing at all can be read.
fn namespaces(root: &ProcRoot, sel: &NetnsSelector) -> Result<(Vec<NetnsInfo>, Vec<String>)> {
    if *sel == NetnsSelector::Current && !root.is_live() {
        // A captured tree has no namespaces to enter: read it as it is.
        let ns = NetnsInfo {
            current: true,
            path: root.path("net"),
            ..NetnsInfo::default()
        };
        return Ok((vec![ns], Vec::new()));
    }
    netns::resolve(root, sel)
}

/// Results per namespace, and notes on the namespaces that were skipped.
type PerNamespace<T> = (Vec<(NetnsInfo, T)>, Vec<String>);

/// The namespaces a command reads, resolved once, and notes on those that
/// could not be found.
type Targets = (Vec<NetnsInfo>, Vec<String>);

/// Runs `f` in every namespace of `targets`. A namespace that cannot be
/// entered is a note, unless it was the only one asked for.
fn for_each_namespace<T: Send>(
    targets: Targets,
    f: impl Fn(&NetnsInfo) -> Result<T> + Sync,
) -> Result<PerNamespace<T>> {
    let (list, mut notes) = targets;
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

/// How many TCP sockets the namespace of the calling thread holds, from
/// /proc/net/sockstat (0 when unknown).
fn estimate_sockets(root: &ProcRoot) -> usize {
    let read = |name| super::read_small(&root.net_file(name)).ok();
    let Some(text) = read("sockstat") else {
        return 0;
    };
    let six = read("sockstat6");
    let path = root.net_file("sockstat");
    host::parse_sockstat(&path, &text, six.as_deref())
        .map(|s| (s.inuse + s.tw + s.inuse6.unwrap_or(0)) as usize)
        .unwrap_or(0)
        .min(16 << 20)
}

/// The sockets of one namespace, as collected.
struct Collected {
    netns: NetnsInfo,
    sockets: Vec<Socket>,
    report: CollectReport,
}

/// Collects the sockets `query` asks for in every namespace of `sel`.
fn sockets(
    root: &ProcRoot,
    targets: Targets,
    query: &SocketQuery,
    choice: SourceChoice,
) -> Result<(Vec<Collected>, Vec<String>)> {
    let (found, notes) = for_each_namespace(targets, |_| {
        // Sized from sockstat: growing a vector of a million sockets by
        // doubling copies it again and again.
        let mut v: Vec<Socket> = Vec::with_capacity(estimate_sockets(root));
        let r = collect_sockets(root, query, choice, &mut v)?;
        Ok((v, r))
    })?;
    let list = found
        .into_iter()
        .map(|(netns, (sockets, report))| Collected {
            netns,
            sockets,
            report,
        })
        .collect();
    Ok((list, notes))
}

/// Sockets and, when `with_owners`, their owners. With no state filter
/// every socket's owner is wanted anyway, so the /proc/*/fd scan runs on
/// its own threads while the kernel dumps the sockets; with one, the scan
/// waits for the dump and keeps only the inodes the rows need.
fn sockets_and_owners(
    root: &ProcRoot,
    targets: Targets,
    query: &SocketQuery,
    choice: SourceChoice,
    filter: &RowFilter,
    with_owners: bool,
) -> Result<(Vec<Collected>, OwnerIndex, Vec<String>)> {
    if !with_owners {
        let (per_ns, notes) = sockets(root, targets, query, choice)?;
        return Ok((per_ns, OwnerIndex::default(), notes));
    }
    if filter.states.is_some() {
        let (per_ns, notes) = sockets(root, targets, query, choice)?;
        let mut wanted = HashSet::new();
        for ns in &per_ns {
            wanted.extend(wanted_inodes(&ns.sockets, filter));
        }
        let (
            Pass {
                owners: mut idx, ..
            },
            note,
        ) = scan_owners(root, &InodeFilter::Only(wanted))?;
        add_closers(root, &mut idx, &per_ns);
        return Ok((per_ns, idx, notes.into_iter().chain(note).collect()));
    }
    let (collected, scanned) = std::thread::scope(|s| {
        let scan = s.spawn(|| scan_owners(root, &InodeFilter::All));
        let collected = sockets(root, targets, query, choice);
        (collected, scan.join())
    });
    let (mut per_ns, mut notes) = collected?;
    let (pass, note) = match scanned {
        Ok(r) => r?,
        Err(p) => std::panic::resume_unwind(p),
    };
    notes.extend(note);
    let mut idx = pass.owners;
    let listed = add_pass_sockets(&mut per_ns, pass.sockets, query);
    keep_owners_of(&mut idx, &listed);
    add_closers(root, &mut idx, &per_ns);
    Ok((per_ns, idx, notes))
}

/// The exact closers of the TIME_WAIT sockets, from the tables of the
/// tracers running on the host (none is the usual case: then TIME_WAIT
/// keeps its likely owners).
fn add_closers(root: &ProcRoot, idx: &mut OwnerIndex, per_ns: &[Collected]) {
    if !root.is_live() {
        return;
    }
    let cookies: HashSet<u64> = per_ns
        .iter()
        .flat_map(|n| n.sockets.iter())
        .filter(|s| s.state == TcpState::TimeWait)
        .filter_map(|s| s.cookie)
        .collect();
    if cookies.is_empty() {
        return;
    }
    if let Ok(Some(found)) = closers::running_closers(&cookies) {
        idx.closers = found;
    }
}

/// Drops the owners of sockets that were not collected (the scan saw every
/// socket of every process), and the processes that then own nothing.
fn keep_owners_of(idx: &mut OwnerIndex, listed: &HashSet<u64>) {
    let before = idx.by_inode.len();
    idx.by_inode.retain(|ino, _| listed.contains(ino));
    if idx.by_inode.len() == before {
        return;
    }
    let pids: HashSet<u32> = idx
        .by_inode
        .values()
        .flat_map(|h| h.iter().map(|f| f.pid))
        .collect();
    idx.processes.retain(|pid, _| pids.contains(pid));
}

/// The socket query that `filter` needs: every state when TIME_WAIT may be
/// listed (its attribution looks at listeners and connections), tcp_info
/// when CLOSE_WAIT may be and `close_wait_info` asks for it.
fn query_for(filter: &RowFilter, ipv4: bool, ipv6: bool, close_wait_info: bool) -> SocketQuery {
    let wants = |s| filter.states.is_none_or(|set: StateSet| set.contains(s));
    SocketQuery {
        states: if wants(TcpState::TimeWait) {
            StateSet::all()
        } else {
            filter.states.unwrap_or_else(StateSet::all)
        },
        ipv4,
        ipv6,
        tcp_info: [TcpState::CloseWait]
            .into_iter()
            .filter(|s| close_wait_info && wants(*s))
            .collect(),
    }
}

/// One owner scan, from the kernel's fd tables when the eBPF iterator
/// loads on a live host (with the TCP sockets its pass saw), else from
/// /proc/*/fd (with a note saying why, and no sockets).
fn scan_owners(root: &ProcRoot, filter: &InodeFilter) -> Result<(Pass, Option<String>)> {
    let mut why_not = None;
    if root.is_live() {
        match IterOwners::shared().map(|it| it.scan(root, filter)) {
            Ok(Ok(mut pass)) => {
                pass.owners.source = Some(OwnerSource::Ebpf);
                return Ok((pass, None));
            }
            Ok(Err(e)) => why_not = Some(format!("the eBPF fd iterator failed: {e}")),
            Err(why) => why_not = Some(why.to_string()),
        }
    }
    let mut idx = owners::scan(root, filter).map_err(|e| Error::io(root.root(), e))?;
    idx.source = Some(OwnerSource::Proc);
    let pass = Pass {
        owners: idx,
        sockets: Vec::new(),
    };
    Ok((
        pass,
        why_not.map(|w| format!("owners read from /proc/*/fd: {w}")),
    ))
}

/// Adds to each namespace the TCP sockets the owner pass saw and the dump
/// did not (opened after the dump went past them), as far as `query`
/// wants them: each held by a process during the pass, so owned. They
/// carry what the pass reads (state, addresses, cookie), not the queues
/// and timers only the dump gives. Returns the inodes of every socket
/// listed.
fn add_pass_sockets(
    per_ns: &mut [Collected],
    pass: Vec<PassSocket>,
    query: &SocketQuery,
) -> HashSet<u64> {
    let mut listed: HashSet<u64> = per_ns
        .iter()
        .flat_map(|n| n.sockets.iter().map(|s| s.inode))
        .collect();
    let mut missed: HashMap<u64, Vec<Socket>> = HashMap::new();
    for p in pass {
        let family = if p.socket.local.ip.is_ipv6() {
            query.ipv6
        } else {
            query.ipv4
        };
        if family && query.states.contains(p.socket.state) && !listed.contains(&p.socket.inode) {
            missed.entry(p.netns).or_default().push(p.socket);
        }
    }
    for ns in per_ns {
        let Some(found) = missed.remove(&ns.netns.inode) else {
            continue;
        };
        // A connection accepted meanwhile was dumped without a file
        // (inode 0) and has one in the pass; the dump made its cookie,
        // which the pass then read.
        let cookies: HashSet<u64> = ns.sockets.iter().filter_map(|s| s.cookie).collect();
        for s in found {
            if s.cookie.is_none_or(|c| !cookies.contains(&c)) {
                listed.insert(s.inode);
                ns.sockets.push(s);
            }
        }
    }
    listed
}

/// What `snapshot` collects.
#[derive(Clone, Debug)]
pub struct SnapshotPlan {
    /// What to collect: from the selected rules' declarations, or from
    /// what a command shows.
    pub needs: Needs,
    /// Which sockets to keep (and so whose owners to look up).
    pub filter: RowFilter,
    pub ipv4: bool,
    pub ipv6: bool,
    /// Time between the two counter samples, when `needs.counter_rates`.
    pub interval: Duration,
    /// sysctl.conf files to read, and whether the user named them (a
    /// missing named file is an error; a missing default one is not).
    pub sysctl_files: Vec<PathBuf>,
    pub files_explicit: bool,
    /// Count the namespaces' counters from zero instead of taking a first
    /// sample (a lab namespace is new: all it counted is the scenario's).
    pub counters_from_zero: bool,
    /// Wait the interval before the sockets are read rather than after:
    /// a tracer running meanwhile then names the closers of the TIME_WAIT
    /// made during it.
    pub dump_after_interval: bool,
}

impl SnapshotPlan {
    /// A plan for `needs` with the defaults: every socket of both
    /// families, a one-second counter interval, the default sysctl files.
    pub fn new(needs: Needs) -> SnapshotPlan {
        SnapshotPlan {
            needs,
            filter: RowFilter::default(),
            ipv4: true,
            ipv6: true,
            interval: Duration::from_secs(1),
            sysctl_files: sysctl_conf::default_files(),
            files_explicit: false,
            counters_from_zero: false,
            dump_after_interval: false,
        }
    }
}

/// Collects a snapshot of every namespace of `sel`, as far as `plan.needs`
/// asks: sockets with owners and ages, counters twice `plan.interval`
/// apart, sysctls and limits, and the sysctl.conf settings.
pub fn snapshot(root: &ProcRoot, sel: &NetnsSelector, plan: &SnapshotPlan) -> Result<Snapshot> {
    let needs = plan.needs;
    let (settings, mut notes) = if needs.sysctl_files {
        sysctl_conf::read_all(&plan.sysctl_files, plan.files_explicit)?
    } else {
        (Vec::new(), Vec::new())
    };
    let rates = needs.counter_rates && !plan.counters_from_zero;
    // The first counter sample comes before anything else is read, so that
    // the two samples bracket the whole interval (the dump and the owner
    // scan included): under load a late first sample misses what the
    // kernel counted meanwhile.
    type Sample = (BTreeMap<String, i64>, BTreeMap<String, i64>);
    let mut first_samples: std::collections::HashMap<u64, Sample> =
        std::collections::HashMap::new();
    let started = Instant::now();
    // Resolved once: the first samples and the dump see the same ones.
    let targets = namespaces(root, sel)?;
    if rates {
        for ns in &targets.0 {
            let read = netns::run_in(ns, || {
                let ext = host::read_counters(root, "netstat", "TcpExt");
                let tcp = host::read_counters(root, "snmp", "Tcp");
                (ext, tcp)
            });
            if let Ok((Ok(Some(ext)), tcp)) = read {
                let tcp = tcp.ok().flatten().unwrap_or_default();
                first_samples.insert(ns.inode, (ext, tcp));
            }
        }
    }
    let wait_rest = || {
        let elapsed = started.elapsed();
        if plan.interval > elapsed {
            std::thread::sleep(plan.interval - elapsed);
        }
    };
    if plan.dump_after_interval {
        wait_rest();
    }
    let (per_ns, owners, more) = if needs.sockets || needs.owners {
        let query = query_for(&plan.filter, plan.ipv4, plan.ipv6, needs.close_wait_info);
        let with_owners = needs.owners || plan.filter.needs_owners();
        sockets_and_owners(
            root,
            targets,
            &query,
            SourceChoice::Auto,
            &plan.filter,
            with_owners,
        )?
    } else {
        let (list, notes) = targets;
        let per_ns = list
            .into_iter()
            .map(|netns| Collected {
                netns,
                sockets: Vec::new(),
                report: CollectReport {
                    source: SourceUsed::Netlink,
                    notes: Vec::new(),
                },
            })
            .collect();
        (per_ns, OwnerIndex::default(), notes)
    };
    notes.extend(more);
    notes.extend(owners.hidden_note());
    // A namespace can disappear between the dump and the counters (a
    // container that stops): with several, that one is skipped with a note.
    let several = per_ns.len() > 1;
    let skip = |ns: &NetnsInfo, e: Error, notes: &mut Vec<String>| -> Result<()> {
        if several {
            notes.push(format!("skipped {}: {e}", ns.label()));
            Ok(())
        } else {
            Err(e)
        }
    };
    if rates && !plan.dump_after_interval {
        wait_rest();
    }
    let mut first = Vec::new();
    for c in per_ns {
        let sample = match first_samples.remove(&c.netns.inode) {
            Some(sample) => Some(sample),
            None if rates => {
                notes.push(format!(
                    "{}: no first counter sample (it appeared during the run, or netstat is \
                     unreadable): no rates for it",
                    c.netns.label()
                ));
                None
            }
            None => Some((BTreeMap::new(), BTreeMap::new())),
        };
        first.push((c, sample));
    }
    // The interval is what was measured between the two samples, not what
    // was asked for.
    let mut interval_s = 0.0;
    let mut namespaces = Vec::new();
    for (c, tcp_ext_before) in first {
        let second_at = Instant::now();
        let host = if needs.host {
            match netns::run_in(&c.netns, || host::read_host_info(root)) {
                Ok(h) => h,
                Err(e) => {
                    skip(&c.netns, e, &mut notes)?;
                    continue;
                }
            }
        } else {
            Default::default()
        };
        if rates && interval_s == 0.0 {
            // From just before the first sample to just before the second
            // (of the first namespace; the others' are as long, shifted).
            interval_s = second_at.duration_since(started).as_secs_f64();
        }
        // Without a first sample, no delta: the second counts as both.
        let (tcp_ext_before, tcp_before) =
            tcp_ext_before.unwrap_or_else(|| (host.tcp_ext.clone(), host.tcp.clone()));
        notes.extend(
            host.notes
                .iter()
                .map(|n| format!("{}: {n}", c.netns.label())),
        );
        notes.extend(c.report.notes.iter().cloned());
        // The path to enter it is a detail of this process, not data.
        let netns = NetnsInfo {
            path: PathBuf::new(),
            ..c.netns
        };
        namespaces.push(NsSnapshot {
            netns,
            sockets: c.sockets,
            listen_backlog_known: c.report.source == SourceUsed::Netlink,
            host,
            tcp_ext_before,
            tcp_before,
        });
    }
    Ok(Snapshot {
        hostname: super::read_small(&root.path("sys/kernel/hostname"))
            .map(|h| h.trim().to_string())
            .unwrap_or_default(),
        taken_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        interval_s,
        namespaces,
        owners,
        sysctl_settings: settings,
        notes,
        trends: None,
    })
}
