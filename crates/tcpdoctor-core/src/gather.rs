//! Collection across network namespaces, with owners when a command needs
//! them. Commands call these; rules and renderers never do I/O.

use crate::census::{Census, CensusReport, GroupBy, MultiCensus};
use crate::collect::netns::{self, NetnsInfo, NetnsSelector};
use crate::collect::owners::{self, InodeFilter, OwnerIndex};
use crate::collect::{self, CollectReport, ProcRoot, SocketQuery, SourceChoice};
use crate::error::{Error, Result};
use crate::listing::{self, RowFilter, SocketRow};
use crate::model::{Process, Socket, StateSet, TcpState};
use std::collections::{BTreeMap, HashSet};

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
        // Sized from sockstat: growing a vector of a million sockets by
        // doubling copies it again and again.
        let mut v: Vec<Socket> = Vec::with_capacity(estimate_sockets(root));
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

/// How many TCP sockets the namespace of the calling thread holds, from
/// /proc/net/sockstat (0 when unknown).
fn estimate_sockets(root: &ProcRoot) -> usize {
    let read = |name| std::fs::read_to_string(root.net_file(name)).ok();
    let Some(text) = read("sockstat") else {
        return 0;
    };
    let six = read("sockstat6");
    let path = root.net_file("sockstat");
    collect::host::parse_sockstat(&path, &text, six.as_deref())
        .map(|s| (s.inuse + s.tw + s.inuse6.unwrap_or(0)) as usize)
        .unwrap_or(0)
        .min(16 << 20)
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

/// Sockets and, when `with_owners`, their owners. With no state filter
/// every socket's owner is wanted anyway, so the /proc/*/fd scan runs on
/// its own threads while the kernel dumps the sockets; with one, the scan
/// waits for the dump and keeps only the inodes the rows need.
fn sockets_and_owners(
    root: &ProcRoot,
    sel: &NetnsSelector,
    query: &SocketQuery,
    choice: SourceChoice,
    filter: &RowFilter,
    with_owners: bool,
) -> Result<(Vec<NsSockets>, Option<OwnerIndex>, Vec<String>)> {
    if !with_owners {
        let (per_ns, notes) = sockets(root, sel, query, choice)?;
        return Ok((per_ns, None, notes));
    }
    if filter.states.is_some() {
        let (per_ns, notes) = sockets(root, sel, query, choice)?;
        let idx = owners_for(root, &per_ns, filter)?;
        return Ok((per_ns, Some(idx), notes));
    }
    let (collected, scanned) = std::thread::scope(|s| {
        let scan = s.spawn(|| owners::scan(root, &InodeFilter::All));
        let collected = sockets(root, sel, query, choice);
        (collected, scan.join())
    });
    let (per_ns, notes) = collected?;
    let idx = match scanned {
        Ok(r) => r.map_err(|e| Error::io(root.root(), e))?,
        Err(p) => std::panic::resume_unwind(p),
    };
    Ok((per_ns, Some(idx), notes))
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
        tcp_info: [TcpState::CloseWait]
            .into_iter()
            .filter(|s| wants(*s))
            .collect(),
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
    let (per_ns, owners, mut notes) = sockets_and_owners(
        root,
        sel,
        query,
        SourceChoice::Auto,
        filter,
        with_owners || filter.needs_owners(),
    )?;
    notes.extend(owners.as_ref().and_then(|o| o.hidden_note()));
    let several = per_ns.len() > 1;
    let mut rows = Vec::new();
    let mut namespaces = Vec::new();
    for ns in per_ns {
        notes.extend(ns.collected.notes);
        let label = several.then_some(ns.netns.inode);
        rows.extend(listing::build_rows(
            ns.sockets,
            owners.as_ref(),
            label,
            filter,
        ));
        namespaces.push(ns.netns);
    }
    listing::sort_rows(&mut rows);
    Ok(Listing {
        rows,
        namespaces,
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
    let filter = RowFilter {
        states: (!query.states.is_all()).then_some(query.states),
        ..RowFilter::default()
    };
    let (per_ns, idx, mut notes) = sockets_and_owners(root, sel, &all, choice, &filter, true)?;
    let idx = idx.unwrap_or_default();
    notes.extend(idx.hidden_note());
    let mut reports = Vec::new();
    for ns in per_ns {
        let rows = listing::build_rows(ns.sockets, Some(&idx), None, &filter);
        let mut r = crate::census::by_process(rows, &idx, top, ns.collected);
        r.netns = Some(ns.netns);
        reports.push(r);
    }
    Ok((reports, notes))
}

/// How to diagnose.
#[derive(Clone, Debug)]
pub struct DiagnoseOptions {
    pub thresholds: crate::diagnose::Thresholds,
    /// Time between the two counter samples (rates need two).
    pub interval: std::time::Duration,
    /// sysctl.conf files to audit, and whether the user named them (a
    /// missing named file is an error; a missing default one is not).
    pub sysctl_files: Vec<std::path::PathBuf>,
    pub files_explicit: bool,
    /// Count the namespaces' counters from zero instead of taking a first
    /// sample (a lab namespace is new: all it counted is the scenario's).
    pub counters_from_zero: bool,
    /// Only the rules whose id starts with this (e.g. "sysctl-").
    pub only: Option<String>,
}

impl Default for DiagnoseOptions {
    fn default() -> Self {
        DiagnoseOptions {
            thresholds: crate::diagnose::Thresholds::default(),
            interval: std::time::Duration::from_secs(1),
            sysctl_files: crate::diagnose::sysctl_files::default_files(),
            files_explicit: false,
            counters_from_zero: false,
            only: None,
        }
    }
}

/// Collects a snapshot of every namespace of `sel`: sockets with owners
/// and ages, counters twice `interval` apart, sysctls, and the sysctl.conf
/// settings. `diagnose_snapshot` runs the rules on it; `tcpdoctor snapshot`
/// writes it to a file.
pub fn snapshot(
    root: &ProcRoot,
    sel: &NetnsSelector,
    opts: &DiagnoseOptions,
) -> Result<crate::offline::snapshot::SnapshotFile> {
    use crate::offline::snapshot::{NsSnapshot, SnapshotFile, VERSION};
    let (files, mut notes) =
        crate::diagnose::sysctl_files::read_all(&opts.sysctl_files, opts.files_explicit)?;
    let filter = RowFilter::default();
    let query = query_for(&filter, true, true);
    let wants_sockets = opts
        .only
        .as_deref()
        .is_none_or(|p| !p.starts_with("sysctl-"));
    let started = std::time::Instant::now();
    let (per_ns, owners, more) = if wants_sockets {
        sockets_and_owners(root, sel, &query, SourceChoice::Auto, &filter, true)?
    } else {
        let (list, notes) = namespaces(root, sel)?;
        let per_ns = list
            .into_iter()
            .map(|netns| NsSockets {
                netns,
                sockets: Vec::new(),
                collected: collect::CollectReport {
                    source: collect::SourceUsed::Netlink,
                    notes: Vec::new(),
                },
            })
            .collect();
        (per_ns, None, notes)
    };
    notes.extend(more);
    let owners = owners.unwrap_or_default();
    // First counter sample, right after the sockets.
    let mut before = Vec::new();
    for ns in &per_ns {
        let sample = if opts.counters_from_zero {
            BTreeMap::new()
        } else {
            // Only the counters: the second sample reads the rest (and says
            // what failed).
            netns::run_in(&ns.netns, || {
                collect::host::read_counters(root, "netstat", "TcpExt")
            })?
            .ok()
            .flatten()
            .unwrap_or_default()
        };
        before.push(sample);
    }
    let elapsed = started.elapsed();
    if !opts.counters_from_zero && opts.interval > elapsed {
        std::thread::sleep(opts.interval - elapsed);
    }
    let interval_s = if opts.counters_from_zero {
        0.0
    } else {
        started.elapsed().as_secs_f64()
    };
    let mut namespaces = Vec::new();
    for (ns, tcp_ext_before) in per_ns.into_iter().zip(before) {
        let host = netns::run_in(&ns.netns, || collect::host::read_host_info(root))?;
        notes.extend(
            host.notes
                .iter()
                .map(|n| format!("{}: {n}", ns.netns.label())),
        );
        notes.extend(ns.collected.notes.iter().cloned());
        // The path to enter it is a detail of this process, not data.
        let netns = NetnsInfo {
            path: std::path::PathBuf::new(),
            ..ns.netns
        };
        namespaces.push(NsSnapshot {
            netns,
            sockets: ns.sockets,
            host,
            tcp_ext_before,
        });
    }
    // Keep only the owners of sockets in the snapshot, and their processes.
    let inodes: std::collections::HashSet<u64> = namespaces
        .iter()
        .flat_map(|n| n.sockets.iter().map(|s| s.inode))
        .collect();
    let mut owner_list: Vec<(u64, Vec<crate::model::FdRef>)> = owners
        .by_inode
        .iter()
        .filter(|(ino, _)| inodes.contains(ino))
        .map(|(ino, h)| (*ino, h.to_vec()))
        .collect();
    owner_list.sort_unstable_by_key(|(ino, _)| *ino);
    let pids: std::collections::HashSet<u32> = owner_list
        .iter()
        .flat_map(|(_, h)| h.iter().map(|f| f.pid))
        .collect();
    let mut processes: Vec<crate::model::Process> = owners
        .processes
        .values()
        .filter(|p| pids.contains(&p.pid))
        .cloned()
        .collect();
    processes.sort_by_key(|p| p.pid);
    Ok(SnapshotFile {
        tcpdoctor_snapshot: VERSION,
        hostname: std::fs::read_to_string(root.path("sys/kernel/hostname"))
            .map(|h| h.trim().to_string())
            .unwrap_or_default(),
        taken_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        interval_s,
        namespaces,
        owners: owner_list,
        processes,
        owners_denied: owners.denied,
        owners_scanned: owners.scanned,
        sysctl_settings: files,
        notes,
    })
}

/// Runs the rules on a snapshot, live or read back from a file.
pub fn diagnose_snapshot(
    snap: &crate::offline::snapshot::SnapshotFile,
    thresholds: &crate::diagnose::Thresholds,
    only: Option<&str>,
) -> crate::diagnose::Diagnosis {
    use crate::diagnose::{Context, Diagnosis, Summary, run_rules};
    let owners = snap.owner_index();
    let mut notes = snap.notes.clone();
    notes.extend(owners.hidden_note());
    let several = snap.namespaces.len() > 1;
    let filter = RowFilter::default();
    let mut findings = Vec::new();
    for ns in &snap.namespaces {
        let rows = listing::build_rows(
            ns.sockets.clone(),
            Some(&owners),
            several.then_some(ns.netns.inode),
            &filter,
        );
        // The sysctl files configure the host's own namespace: audit them
        // with the namespace tcpdoctor runs in.
        let files: &[crate::diagnose::SysctlSetting] = if ns.netns.current {
            &snap.sysctl_settings
        } else {
            &[]
        };
        let cx = Context {
            netns: &ns.netns,
            rows: &rows,
            owners: &owners,
            host: &ns.host,
            tcp_ext_before: &ns.tcp_ext_before,
            interval_s: snap.interval_s,
            thresholds,
            files,
        };
        for mut f in run_rules(&cx) {
            if only.is_some_and(|p| !f.id.starts_with(p)) {
                continue;
            }
            f.netns = several.then(|| ns.netns.short_label());
            findings.push(f);
        }
    }
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.id.cmp(b.id))
            .then(a.subject.cmp(&b.subject))
    });
    let labels = snap.namespaces.iter().map(|n| n.netns.label()).collect();
    let summary = Summary::new(&findings, labels, notes);
    Diagnosis { findings, summary }
}

/// Snapshot and rules in one: what `tcpdoctor diagnose` runs.
pub fn diagnose(
    root: &ProcRoot,
    sel: &NetnsSelector,
    opts: &DiagnoseOptions,
) -> Result<crate::diagnose::Diagnosis> {
    let snap = snapshot(root, sel, opts)?;
    Ok(diagnose_snapshot(
        &snap,
        &opts.thresholds,
        opts.only.as_deref(),
    ))
}
