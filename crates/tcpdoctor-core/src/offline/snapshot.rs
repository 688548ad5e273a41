//! tcpdoctor's own snapshot: everything `diagnose` reads, in one JSON file
//! (gzip when the name ends in .gz), so that `analyze` gives the same
//! census and findings as the live host gave at that moment.

use crate::collect::netns::NetnsInfo;
use crate::collect::owners::OwnerIndex;
use crate::diagnose::SysctlSetting;
use crate::error::{Error, Result};
use crate::model::{FdRef, HostInfo, Process, Socket};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// The format's version; bumped when a reader could misread an old file.
pub const VERSION: u32 = 1;

/// One network namespace at the moment of the snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NsSnapshot {
    pub netns: NetnsInfo,
    pub sockets: Vec<Socket>,
    /// Counters, sysctls and limits at the end of the interval.
    pub host: HostInfo,
    /// TcpExt counters at the start of the interval.
    pub tcp_ext_before: BTreeMap<String, i64>,
}

/// A snapshot file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnapshotFile {
    pub tcpdoctor_snapshot: u32,
    pub hostname: String,
    /// Seconds since the Unix epoch.
    pub taken_at: u64,
    pub interval_s: f64,
    pub namespaces: Vec<NsSnapshot>,
    /// Socket inode -> the fds that hold it.
    pub owners: Vec<(u64, Vec<FdRef>)>,
    pub processes: Vec<Process>,
    /// Processes whose fds could not be read, and how many were scanned.
    pub owners_denied: u32,
    pub owners_scanned: u32,
    /// sysctl.conf settings audited with the host's own namespace.
    pub sysctl_settings: Vec<SysctlSetting>,
    pub notes: Vec<String>,
}

impl SnapshotFile {
    pub fn owner_index(&self) -> OwnerIndex {
        let mut idx = OwnerIndex {
            denied: self.owners_denied,
            scanned: self.owners_scanned,
            ..OwnerIndex::default()
        };
        for (ino, fds) in &self.owners {
            idx.by_inode.insert(*ino, fds.iter().copied().collect());
        }
        for p in &self.processes {
            idx.processes.insert(p.pid, p.clone());
        }
        idx
    }

    pub fn from_json(path: &Path, text: &str) -> Result<SnapshotFile> {
        let snap: SnapshotFile = serde_json::from_str(text).map_err(|e| {
            Error::parse(
                path,
                e.line(),
                "a tcpdoctor snapshot (JSON written by `tcpdoctor snapshot`)",
                &e.to_string(),
            )
        })?;
        if snap.tcpdoctor_snapshot != VERSION {
            return Err(Error::parse(
                path,
                1,
                "snapshot format version 1",
                &snap.tcpdoctor_snapshot.to_string(),
            ));
        }
        Ok(snap)
    }

    /// Writes it to `path`, gzip-compressed when the name ends in .gz.
    pub fn write(&self, path: &Path) -> Result<()> {
        let f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        let mut w = std::io::BufWriter::new(f);
        let json = |w: &mut dyn Write| {
            serde_json::to_writer(w, self).map_err(|e| Error::io(path, std::io::Error::other(e)))
        };
        if path.extension().is_some_and(|e| e == "gz") {
            let mut gz = flate2::write::GzEncoder::new(w, flate2::Compression::default());
            json(&mut gz)?;
            gz.finish()
                .and_then(|mut w| w.flush())
                .map_err(|e| Error::io(path, e))?;
        } else {
            json(&mut w)?;
            w.flush().map_err(|e| Error::io(path, e))?;
        }
        Ok(())
    }
}
