//! Everything one look at a host found: each network namespace's sockets,
//! counters and sysctls, the owners of those sockets, and the sysctl.conf
//! settings. Live collection (`collect::plan`) and offline readers
//! (`offline`) both produce a `Snapshot`; `diagnose`, the listing and the
//! exporter read one. `tcpdoctor snapshot` writes it as JSON (the format
//! below) and `tcpdoctor analyze` reads it back to the same findings.

use super::{
    CloseTracing, Closer, FdRef, HostInfo, NetnsInfo, OwnerIndex, OwnerSource, Process, Socket,
    SysctlSetting, Trends,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// The file format's version; bumped when a reader could misread an old file.
const SNAPSHOT_VERSION: u32 = 1;

/// One network namespace at the moment of the snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NsSnapshot {
    pub netns: NetnsInfo,
    pub sockets: Vec<Socket>,
    /// Whether a LISTEN socket's `send_q` is its backlog. sock_diag and
    /// `ss` report it; /proc/net/tcp and `netstat` do not (they show 0), so
    /// nothing may be concluded from it then.
    #[serde(default = "yes")]
    pub listen_backlog_known: bool,
    /// Counters, sysctls and limits at the end of the interval (empty when
    /// nothing asked for them).
    pub host: HostInfo,
    /// TcpExt counters at the start of the interval.
    pub tcp_ext_before: BTreeMap<String, i64>,
    /// Tcp (snmp) counters at the start of the interval: ActiveOpens and
    /// PassiveOpens give the host's connection rates.
    #[serde(default)]
    pub tcp_before: BTreeMap<String, i64>,
}

fn yes() -> bool {
    true
}

impl Default for NsSnapshot {
    fn default() -> Self {
        NsSnapshot {
            netns: NetnsInfo::default(),
            sockets: Vec::new(),
            listen_backlog_known: true,
            host: HostInfo::default(),
            tcp_ext_before: BTreeMap::new(),
            tcp_before: BTreeMap::new(),
        }
    }
}

/// A snapshot of one host.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub hostname: String,
    /// Seconds since the Unix epoch.
    pub taken_at: u64,
    /// The measured time between the two counter samples (0: one sample).
    pub interval_s: f64,
    pub namespaces: Vec<NsSnapshot>,
    /// Owners of the snapshot's sockets (empty when not scanned).
    pub owners: OwnerIndex,
    /// sysctl.conf settings, audited with the host's own namespace.
    pub sysctl_settings: Vec<SysctlSetting>,
    pub notes: Vec<String>,
    /// Growth and predictions, when the host was observed over time
    /// before this snapshot (`diagnose --for`, the exporter).
    pub trends: Option<Box<Trends>>,
}

impl Snapshot {
    /// How many sockets it holds in all.
    pub fn socket_count(&self) -> usize {
        self.namespaces.iter().map(|n| n.sockets.len()).sum()
    }
}

/// The file layout (version 1): owners as sorted (inode, fds) pairs and a
/// process list, so that the same snapshot always writes the same bytes.
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    tcpdoctor_snapshot: u32,
    hostname: String,
    taken_at: u64,
    interval_s: f64,
    namespaces: Vec<NsSnapshot>,
    owners: Vec<(u64, Vec<FdRef>)>,
    processes: Vec<Process>,
    owners_denied: u32,
    owners_scanned: u32,
    /// Where the owners came from; absent in older files and when no
    /// owners were scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owners_source: Option<OwnerSource>,
    /// (cookie, closer) pairs, sorted; absent when no tracer ran.
    #[serde(default)]
    closers: Vec<(u64, Closer)>,
    /// Whether the run traced closes; absent when it did not try.
    #[serde(default)]
    close_tracing: Option<CloseTracing>,
    sysctl_settings: Vec<SysctlSetting>,
    notes: Vec<String>,
    #[serde(default)]
    trends: Option<Box<Trends>>,
}

/// Borrowed twin of `SnapshotFile` for writing without copying sockets.
#[derive(Serialize)]
struct SnapshotFileRef<'a> {
    tcpdoctor_snapshot: u32,
    hostname: &'a str,
    taken_at: u64,
    interval_s: f64,
    namespaces: &'a [NsSnapshot],
    owners: Vec<(u64, &'a [FdRef])>,
    processes: Vec<&'a Process>,
    owners_denied: u32,
    owners_scanned: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    owners_source: Option<OwnerSource>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    closers: Vec<(u64, &'a Closer)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    close_tracing: Option<&'a CloseTracing>,
    sysctl_settings: &'a [SysctlSetting],
    notes: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    trends: Option<&'a Trends>,
}

impl Serialize for Snapshot {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut owners: Vec<(u64, &[FdRef])> = self
            .owners
            .by_inode
            .iter()
            .map(|(ino, h)| (*ino, h.as_slice()))
            .collect();
        owners.sort_unstable_by_key(|(ino, _)| *ino);
        let mut processes: Vec<&Process> = self.owners.processes.values().collect();
        processes.sort_by_key(|p| p.pid);
        let mut closers: Vec<(u64, &Closer)> =
            self.owners.closers.iter().map(|(c, w)| (*c, w)).collect();
        closers.sort_unstable_by_key(|(c, _)| *c);
        SnapshotFileRef {
            tcpdoctor_snapshot: SNAPSHOT_VERSION,
            hostname: &self.hostname,
            taken_at: self.taken_at,
            interval_s: self.interval_s,
            namespaces: &self.namespaces,
            owners,
            processes,
            owners_denied: self.owners.denied,
            owners_scanned: self.owners.scanned,
            owners_source: self.owners.source,
            closers,
            close_tracing: self.owners.close_tracing.as_ref(),
            sysctl_settings: &self.sysctl_settings,
            notes: &self.notes,
            trends: self.trends.as_deref(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Snapshot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = SnapshotFile::deserialize(d)?;
        if f.tcpdoctor_snapshot != SNAPSHOT_VERSION {
            return Err(serde::de::Error::custom(format!(
                "snapshot format version {} (this tcpdoctor reads version {SNAPSHOT_VERSION})",
                f.tcpdoctor_snapshot
            )));
        }
        let mut owners = OwnerIndex {
            denied: f.owners_denied,
            scanned: f.owners_scanned,
            source: f.owners_source,
            close_tracing: f.close_tracing,
            ..OwnerIndex::default()
        };
        for (ino, fds) in f.owners {
            owners.by_inode.insert(ino, fds.into_iter().collect());
        }
        for p in f.processes {
            owners.processes.insert(p.pid, p);
        }
        owners.closers.extend(f.closers);
        Ok(Snapshot {
            hostname: f.hostname,
            taken_at: f.taken_at,
            interval_s: f.interval_s,
            namespaces: f.namespaces,
            owners,
            sysctl_settings: f.sysctl_settings,
            notes: f.notes,
            trends: f.trends,
        })
    }
}
