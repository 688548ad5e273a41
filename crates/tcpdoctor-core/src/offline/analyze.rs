//! `tcpdoctor analyze`: dumps and snapshots into the same census, listing
//! and findings as live, as far as the data allows.

use super::{DumpOwner, DumpReport, DumpSink, Format, limits_of, open, read_dump};
use crate::error::{Error, Result};
use crate::model::{
    Census, CensusReport, CollectReport, FdRef, GroupBy, HostInfo, NetnsInfo, NsSnapshot,
    OwnerIndex, Process, RowFilter, Snapshot, Socket, SocketSink, SourceUsed, TcpState, by_process,
    rows_of,
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
pub const MAX_KEPT_SOCKETS: usize = 4 << 20;

/// Keeps sockets and owners, to build a snapshot.
#[derive(Default)]
struct SnapshotSink {
    sockets: Vec<Socket>,
    /// More sockets came than `MAX_KEPT_SOCKETS`.
    overflow: bool,
    owners: OwnerIndex,
    aggregates: bool,
    next_inode: u64,
}

/// Inodes tcpdoctor makes up for dump lines that name owners but no inode
/// (netstat -p), far above any real one, so owners attach the usual way.
const SYNTHETIC_INODE_BASE: u64 = 1 << 48;

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
        if !owners.is_empty() {
            if s.inode == 0 {
                self.next_inode += 1;
                s.inode = SYNTHETIC_INODE_BASE + self.next_inode;
            }
            let fds = owners.iter().map(|o| FdRef {
                pid: o.pid,
                fd: o.fd.unwrap_or(FdRef::UNKNOWN_FD),
            });
            self.owners.by_inode.entry(s.inode).or_default().extend(fds);
            for o in owners {
                self.owners
                    .processes
                    .entry(o.pid)
                    .or_insert_with(|| Process {
                        pid: o.pid,
                        comm: o.comm.clone(),
                        ..Process::default()
                    });
            }
        }
        self.sockets.push(s);
    }
    fn aggregate(&mut self, _: TcpState, _: u64) {
        self.aggregates = true;
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
        return by_process(rows, &snap.owners, top, collected);
    }
    let mut c = Census::new(by);
    for s in snap.namespaces.iter().flat_map(|ns| &ns.sockets) {
        c.socket(s);
    }
    CensusReport::new(&c, top, collected)
}

/// Reads dumps into one snapshot (or returns the snapshot a file holds).
pub fn snapshot(
    paths: &[PathBuf],
    format: Option<Format>,
    lenient: bool,
) -> Result<(Snapshot, DumpReport)> {
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
        return Err(Error::parse(
            Path::new(report.files.first().map_or("input", |f| f.as_str())),
            1,
            "sockets: aggregated 'STATE COUNT' lines only make a census (--view census)",
            "aggregated counts",
        ));
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
        return Ok((snaps.remove(0), report));
    }
    let mut host = HostInfo::default();
    // A dump has no sysctls: assume the kernel's default port range so that
    // port exhaustion can still be judged, and say so.
    host.sysctls
        .insert("net.ipv4.ip_local_port_range".into(), "32768 60999".into());
    let notes = notes_of(&report);
    let netns = NetnsInfo {
        name: Some(report.files.join(", ")),
        current: true,
        ..NetnsInfo::default()
    };
    let snap = Snapshot {
        hostname: String::new(),
        taken_at: 0,
        interval_s: 0.0,
        namespaces: vec![NsSnapshot {
            netns,
            sockets: sink.sockets,
            // Only ss shows a listener's backlog (in Send-Q).
            listen_backlog_known: !report.formats.is_empty()
                && report.formats.iter().all(|f| *f == Format::Ss),
            host,
            tcp_ext_before: BTreeMap::new(),
        }],
        owners: sink.owners,
        sysctl_settings: Vec::new(),
        notes,
    };
    Ok((snap, report))
}
