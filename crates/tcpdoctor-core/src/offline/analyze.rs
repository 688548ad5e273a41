//! `tcpdoctor analyze`: dumps and snapshots into the same census, listing
//! and findings as live, as far as the data allows.

use super::{DumpOwner, DumpReport, DumpSink, Format, limits_of, open, read_dump};
use crate::error::{Error, Result};
use crate::model::{
    Census, CensusReport, CollectReport, FdRef, GroupBy, HostInfo, Listing, NetnsInfo, NsSnapshot,
    OwnerIndex, Process, RowFilter, Snapshot, Socket, SocketSink, SourceUsed, TcpState,
    age_seconds, by_process, listing_order, rows, rows_of,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Streams into a census: no socket is kept.
struct CensusSink<'a>(&'a mut Census);

impl DumpSink for CensusSink<'_> {
    fn socket(&mut self, s: &Socket, _: &[DumpOwner]) {
        self.0.socket(s);
    }
    fn aggregate(&mut self, state: TcpState, count: u64) {
        self.0.add_count(state, count);
    }
}

/// The most sockets the views that keep them (diagnose, sockets) hold
/// from dumps: about 600 MB. The census view counts any number in flat
/// memory.
const MAX_KEPT_SOCKETS: usize = 4 << 20;

/// Keeps sockets and owners, to build a snapshot.
#[derive(Default)]
struct SnapshotSink {
    sockets: Vec<Socket>,
    /// More sockets came than `MAX_KEPT_SOCKETS`.
    overflow: bool,
    owners: OwnerIndex,
    aggregates: bool,
    /// Counts of `STATE COUNT` lines, by kernel state number.
    counts: [u64; 16],
    next_inode: u64,
}

/// Inodes tcpdoctor makes up for dump lines that name owners but no inode
/// (netstat -p), far above any real one, so owners attach the usual way.
const SYNTHETIC_INODE_BASE: u64 = 1 << 48;

/// The owners a dump line names, as fds of `s`: gives `s` a made-up inode
/// when the dump has none, and records the processes in `index`.
fn own(
    s: &mut Socket,
    owners: &[DumpOwner],
    next_inode: &mut u64,
    index: &mut OwnerIndex,
) -> Vec<FdRef> {
    if owners.is_empty() {
        return Vec::new();
    }
    if s.inode == 0 {
        *next_inode += 1;
        s.inode = SYNTHETIC_INODE_BASE + *next_inode;
    }
    for o in owners {
        index.processes.entry(o.pid).or_insert_with(|| Process {
            pid: o.pid,
            comm: o.comm.clone(),
            ..Process::default()
        });
    }
    owners
        .iter()
        .map(|o| FdRef {
            pid: o.pid,
            fd: o.fd.unwrap_or(FdRef::UNKNOWN_FD),
        })
        .collect()
}

impl DumpSink for SnapshotSink {
    fn wants_owners(&self) -> bool {
        true
    }
    fn socket(&mut self, s: &Socket, owners: &[DumpOwner]) {
        if self.sockets.len() >= MAX_KEPT_SOCKETS {
            self.overflow = true;
            return;
        }
        let mut s = s.clone();
        let fds = own(&mut s, owners, &mut self.next_inode, &mut self.owners);
        if !fds.is_empty() {
            self.owners.by_inode.entry(s.inode).or_default().extend(fds);
        }
        self.sockets.push(s);
    }
    fn aggregate(&mut self, state: TcpState, count: u64) {
        self.aggregates = true;
        self.counts[state.kernel_number() as usize] += count;
    }
}

fn notes_of(report: &DumpReport) -> Vec<String> {
    let mut notes = report.notes.clone();
    if report.other > 0 {
        notes.push(format!(
            "skipped {} line(s) of other protocols (udp, unix...): TCP only",
            report.other
        ));
    }
    let mut formats = report.formats.clone();
    formats.dedup();
    for f in formats {
        for n in limits_of(f, report) {
            if !notes.contains(&n) {
                notes.push(n);
            }
        }
    }
    notes
}

/// The census of dumps (streamed) or snapshots.
pub fn census(
    paths: &[PathBuf],
    format: Option<Format>,
    lenient: bool,
    by: Option<GroupBy>,
    top: usize,
) -> Result<(CensusReport, DumpReport)> {
    if by == Some(GroupBy::Process) {
        let (snap, report) = snapshot(paths, format, lenient)?;
        return Ok((census_of_snapshot(&snap, by, top), report));
    }
    let mut c = Census::new(by);
    let mut report = DumpReport::default();
    for p in paths {
        // Plain ss and netstat files without grouping: the parallel counter.
        // Only for a regular file: it reads the head, then two halves at
        // their offsets; a pipe or FIFO (`<(cat dump)`) can be read once.
        let fast = by.is_none() && std::fs::metadata(p).is_ok_and(|m| m.is_file());
        if fast
            && let Some(f @ (Format::Ss | Format::Netstat)) =
                format.or_else(|| super::detect_file(p))
        {
            let fc = super::fast_census::census_file(p, f, lenient)?;
            for s in TcpState::ALL {
                c.add_count(s, fc.counts[s.kernel_number() as usize]);
            }
            report.files.push(p.display().to_string());
            report.formats.push(f);
            report.lines += fc.lines;
            report.skipped += fc.skipped;
            report.other += fc.other;
            let skipped = fc.skipped;
            if skipped > 0 {
                report.notes.push(format!(
                    "skipped {skipped} malformed line(s) (--lenient) in {}",
                    p.display()
                ));
            }
            continue;
        }
        let input = open(p)?;
        let mut sink = CensusSink(&mut c);
        if let Some(snap) = read_dump(p, input, format, lenient, &mut sink, &mut report)? {
            for ns in &snap.namespaces {
                for s in &ns.sockets {
                    c.socket(s);
                }
            }
        }
    }
    let notes = notes_of(&report);
    let r = CensusReport::new(
        &c,
        top,
        CollectReport {
            source: SourceUsed::Proc,
            notes,
        },
    );
    Ok((r, report))
}

/// The census of a snapshot, by process when asked (owners come with it).
pub fn census_of_snapshot(snap: &Snapshot, by: Option<GroupBy>, top: usize) -> CensusReport {
    let collected = CollectReport {
        source: SourceUsed::Proc,
        notes: snap.notes.clone(),
    };
    if by == Some(GroupBy::Process) {
        let rows = snap
            .namespaces
            .iter()
            .flat_map(|ns| rows_of(ns, &snap.owners, None, &RowFilter::default()));
        return by_process(rows, &snap.owners, top, &[], collected);
    }
    let mut c = Census::new(by);
    for s in snap.namespaces.iter().flat_map(|ns| &ns.sockets) {
        c.socket(s);
    }
    CensusReport::new(&c, top, collected)
}

/// What dumps hold for a diagnosis: sockets (a dump or a snapshot file),
/// or only counts per state (the awk census's `STATE COUNT` lines).
pub(crate) enum Diagnosable {
    Snapshot(Box<Snapshot>),
    /// States and counts, largest first, and what the input cannot tell.
    Counts(Vec<(TcpState, u64)>, Vec<String>),
}

/// Reads dumps into one snapshot (or returns the snapshot a file holds);
/// counts alone are an error here (they make no listing).
pub fn snapshot(
    paths: &[PathBuf],
    format: Option<Format>,
    lenient: bool,
) -> Result<(Snapshot, DumpReport)> {
    match diagnosable(paths, format, lenient)? {
        (Diagnosable::Snapshot(s), report) => Ok((*s, report)),
        (Diagnosable::Counts(..), report) => Err(Error::parse(
            Path::new(report.files.first().map_or("input", |f| f.as_str())),
            1,
            "sockets: aggregated 'STATE COUNT' lines only make a census (--view census) or a \
             diagnosis from counts (--view diagnose)",
            "aggregated counts",
        )),
    }
}

/// Reads dumps for a diagnosis: a snapshot, or counts alone.
pub(crate) fn diagnosable(
    paths: &[PathBuf],
    format: Option<Format>,
    lenient: bool,
) -> Result<(Diagnosable, DumpReport)> {
    let mut sink = SnapshotSink::default();
    let mut report = DumpReport::default();
    let mut snaps = Vec::new();
    for p in paths {
        let input = open(p)?;
        if let Some(snap) = read_dump(p, input, format, lenient, &mut sink, &mut report)? {
            snaps.push(snap);
        }
    }
    if sink.overflow {
        return Err(Error::parse(
            Path::new(report.files.last().map_or("input", |f| f.as_str())),
            (report.lines as usize).max(1),
            "at most 4194304 sockets for the diagnose and sockets views \
             (--view census counts any number)",
            &format!("{} lines", report.lines),
        ));
    }
    if sink.aggregates {
        if !sink.sockets.is_empty() || !snaps.is_empty() {
            return Err(Error::parse(
                Path::new(report.files.last().map_or("input", |f| f.as_str())),
                1,
                "counts, or sockets, not both in one run",
                "aggregated counts beside a dump",
            ));
        }
        let mut states: Vec<(TcpState, u64)> = TcpState::ALL
            .iter()
            .map(|s| (*s, sink.counts[s.kernel_number() as usize]))
            .filter(|(_, n)| *n > 0)
            .collect();
        states.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let notes = notes_of(&report);
        return Ok((Diagnosable::Counts(states, notes), report));
    }
    if !snaps.is_empty() {
        if snaps.len() > 1 || !sink.sockets.is_empty() {
            return Err(Error::parse(
                Path::new(report.files.last().map_or("input", |f| f.as_str())),
                1,
                "one snapshot per run, not mixed with dumps",
                "a second input",
            ));
        }
        return Ok((Diagnosable::Snapshot(Box::new(snaps.remove(0))), report));
    }
    unread_refused(&report)?;
    let snap = dump_snapshot(&report, sink.sockets, sink.owners);
    Ok((Diagnosable::Snapshot(Box::new(snap)), report))
}

/// No verdict from input that was not read: a dump of no TCP socket, or
/// one whose malformed lines (skipped with --lenient) outnumber its
/// sockets, is an error that says how much was skipped and why.
fn unread_refused(report: &DumpReport) -> Result<()> {
    let files = report.files.join(", ");
    if report.skipped > 0 && report.skipped >= report.sockets {
        return Err(Error::Unsupported(format!(
            "no verdict: {} of {} socket lines of {files} could not be read and were skipped \
             (--lenient; the first: {}); dumps are read with numeric addresses and ports \
             (ss -tan or netstat -tan: with -n)",
            report.skipped,
            report.skipped + report.sockets,
            report.first_skipped.as_deref().unwrap_or("?")
        )));
    }
    if report.sockets == 0 {
        return Err(Error::Unsupported(format!(
            "no verdict: {files} holds no TCP socket line ({} lines read{}); expected the \
             output of ss -tan, netstat -tan or /proc/net/tcp",
            report.lines,
            if report.other > 0 {
                format!(", {} of other protocols", report.other)
            } else {
                String::new()
            }
        )));
    }
    Ok(())
}

/// A socket of a dump that may be listed, with its owners.
struct Candidate {
    socket: Socket,
    age: Option<f64>,
    owners: Vec<FdRef>,
}

impl PartialEq for Candidate {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == std::cmp::Ordering::Equal
    }
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Candidate {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        listing_order(&self.socket, self.age, &o.socket, o.age)
    }
}

/// Keeps the first `limit` sockets of the listing order, and what their
/// TIME_WAIT attribution needs (the listeners, and one owned socket per
/// (remote endpoint, process)): memory follows the limit and the number
/// of distinct peers, not the size of the dump.
struct TopSink {
    filter: RowFilter,
    limit: usize,
    /// A max-heap: the last of the kept sockets on top, to drop first.
    top: std::collections::BinaryHeap<Candidate>,
    /// Listeners and owned sockets kept for attribution only.
    context: Vec<Socket>,
    owners: OwnerIndex,
    holders_seen: std::collections::HashSet<(crate::model::Endpoint, u32)>,
    aggregates: bool,
    next_inode: u64,
}

impl DumpSink for TopSink {
    fn wants_owners(&self) -> bool {
        true
    }
    fn socket(&mut self, s: &Socket, owners: &[DumpOwner]) {
        let mut s = s.clone();
        let fds = own(&mut s, owners, &mut self.next_inode, &mut self.owners);
        // What attribution needs, whatever is listed.
        let new_holder = owners
            .iter()
            .any(|o| self.holders_seen.insert((s.remote, o.pid)));
        if s.state == TcpState::Listen || (s.inode != 0 && new_holder) {
            if !fds.is_empty() {
                self.owners
                    .by_inode
                    .entry(s.inode)
                    .or_default()
                    .extend(fds.iter().copied());
            }
            self.context.push(s.clone());
        }
        if !self.filter.matches_socket(&s) || self.limit == 0 {
            return;
        }
        let c = Candidate {
            age: age_seconds(&s),
            socket: s,
            owners: fds,
        };
        if self.top.len() < self.limit {
            self.top.push(c);
        } else if self.top.peek().is_some_and(|last| c < *last) {
            self.top.pop();
            self.top.push(c);
        }
    }
    fn aggregate(&mut self, _: TcpState, _: u64) {
        self.aggregates = true;
    }
}

/// The first `limit` rows of a dump's listing, read in memory that follows
/// the limit, not the dump. Its snapshot holds the listed sockets and the
/// listeners and peers their attribution needs; `rows` lists only the
/// former.
pub struct TopListing {
    pub snapshot: Snapshot,
    /// Where the listed sockets start in the namespace's sockets (None: a
    /// snapshot file, every socket may be listed).
    first_listed: Option<usize>,
    limit: usize,
}

impl TopListing {
    /// The listed rows, in listing order.
    pub fn rows(&self, filter: &RowFilter) -> Listing<'_> {
        let mut l = rows(&self.snapshot, filter);
        if let Some(first) = self.first_listed {
            let listed = self
                .snapshot
                .namespaces
                .first()
                .map_or(&[][..], |ns| &ns.sockets[first..]);
            let range = listed.as_ptr_range();
            l.rows
                .retain(|r| range.contains(&(r.socket as *const Socket)));
        }
        l.rows.truncate(self.limit);
        l
    }
}

/// The sockets view of dumps with `--limit`: see `TopListing`. A snapshot
/// file is read whole (it is bounded by `MAX_SNAPSHOT_BYTES`).
pub fn top_listing(
    paths: &[PathBuf],
    format: Option<Format>,
    lenient: bool,
    filter: &RowFilter,
    limit: usize,
) -> Result<(TopListing, DumpReport)> {
    let mut sink = TopSink {
        filter: filter.clone(),
        limit,
        top: std::collections::BinaryHeap::new(),
        context: Vec::new(),
        owners: OwnerIndex::default(),
        holders_seen: Default::default(),
        aggregates: false,
        next_inode: 0,
    };
    let mut report = DumpReport::default();
    for p in paths {
        let input = open(p)?;
        if let Some(snap) = read_dump(p, input, format, lenient, &mut sink, &mut report)? {
            if paths.len() > 1 || !sink.top.is_empty() {
                return Err(Error::parse(
                    p,
                    1,
                    "one snapshot per run, not mixed with dumps",
                    "a second input",
                ));
            }
            return Ok((
                TopListing {
                    snapshot: snap,
                    first_listed: None,
                    limit,
                },
                report,
            ));
        }
    }
    if sink.aggregates {
        return Err(Error::parse(
            Path::new(report.files.first().map_or("input", |f| f.as_str())),
            1,
            "sockets: aggregated 'STATE COUNT' lines only make a census (--view census)",
            "aggregated counts",
        ));
    }
    let mut sockets = sink.context;
    let first_listed = sockets.len();
    let mut owners = sink.owners;
    for c in sink.top.into_sorted_vec() {
        // Kept for attribution too: its owners are in the index already.
        if !c.owners.is_empty() && !owners.by_inode.contains_key(&c.socket.inode) {
            owners
                .by_inode
                .insert(c.socket.inode, c.owners.into_iter().collect());
        }
        sockets.push(c.socket);
    }
    let snapshot = dump_snapshot(&report, sockets, owners);
    Ok((
        TopListing {
            snapshot,
            first_listed: Some(first_listed),
            limit,
        },
        report,
    ))
}

/// The snapshot of dumps: one namespace named after the files, the sockets
/// and owners they hold, and what a dump cannot tell.
fn dump_snapshot(report: &DumpReport, sockets: Vec<Socket>, mut owners: OwnerIndex) -> Snapshot {
    if !report.has_owners {
        owners.absent = Some("owners not in this dump");
    }
    let mut host = HostInfo::default();
    // A dump has no sysctls: assume the kernel's default port range so that
    // port exhaustion can still be judged, and say so.
    host.sysctls
        .insert("net.ipv4.ip_local_port_range".into(), "32768 60999".into());
    // A file, not this host's namespace.
    let netns = NetnsInfo {
        name: Some(format!("dump {}", report.files.join(", "))),
        ..NetnsInfo::default()
    };
    Snapshot {
        hostname: String::new(),
        taken_at: 0,
        interval_s: 0.0,
        namespaces: vec![NsSnapshot {
            netns,
            sockets,
            // Only ss shows a listener's backlog (in Send-Q).
            listen_backlog_known: !report.formats.is_empty()
                && report.formats.iter().all(|f| *f == Format::Ss),
            host,
            tcp_ext_before: BTreeMap::new(),
            tcp_before: BTreeMap::new(),
        }],
        owners,
        sysctl_settings: Vec::new(),
        notes: notes_of(report),
        trends: None,
    }
}
