//! Host-wide (per network namespace) facts: counters, sysctls, limits.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `/proc/net/sockstat` TCP line and `/proc/net/sockstat6` TCP6 line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sockstat {
    /// IPv4 TCP sockets in use (not TIME_WAIT).
    pub inuse: u64,
    pub orphan: u64,
    /// TIME_WAIT sockets, both families.
    pub tw: u64,
    pub alloc: u64,
    /// Pages of memory used by TCP.
    pub mem_pages: u64,
    /// IPv6 TCP sockets in use; None when sockstat6 is absent.
    pub inuse6: Option<u64>,
}

/// An `ip_local_port_range` value: exactly two ports, in the order given
/// (a low end above the high one is the caller's to judge).
pub(crate) fn parse_port_range(v: &str) -> Option<(u16, u16)> {
    let mut it = v.split_whitespace().map(|p| p.parse::<u16>());
    match (it.next(), it.next(), it.next()) {
        (Some(Ok(lo)), Some(Ok(hi)), None) => Some((lo, hi)),
        _ => None,
    }
}

/// The TcpExt counters that tell about connection-state trouble: what the
/// exporter exports and the lab reports.
pub const COUNTERS_THAT_MATTER: &[&str] = &[
    "ListenOverflows",
    "ListenDrops",
    "TCPTimeWaitOverflow",
    "TW",
    "TWRecycled",
    "TCPAbortOnClose",
    "TCPAbortOnData",
    "TCPAbortOnMemory",
    "TCPAbortOnTimeout",
    "TCPAbortOnLinger",
    "TCPReqQFullDrop",
    "TCPReqQFullDoCookies",
    "SyncookiesSent",
];

/// The /proc/net/snmp Tcp counters that matter (opens, failures, resets).
pub(crate) const TCP_COUNTERS_THAT_MATTER: &[&str] = &[
    "ActiveOpens",
    "PassiveOpens",
    "AttemptFails",
    "EstabResets",
    "OutRsts",
    "RetransSegs",
];

/// `fs.file-nr`: allocated file handles, free ones, and `fs.file-max`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileNr {
    pub allocated: u64,
    pub free: u64,
    pub max: u64,
}

/// Everything tcpdoctor reads about the host besides its sockets. Every part
/// may be missing: what could not be read is named in `notes`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    /// `uname -r`, from /proc/sys/kernel/osrelease.
    pub kernel_release: Option<String>,
    pub sockstat: Option<Sockstat>,
    /// /proc/net/snmp `Tcp:` counters (signed: MaxConn is -1).
    pub tcp: BTreeMap<String, i64>,
    /// /proc/net/netstat `TcpExt:` counters.
    pub tcp_ext: BTreeMap<String, i64>,
    /// Sysctl name (dotted) to its value, whitespace folded to one space.
    pub sysctls: BTreeMap<String, String>,
    pub file_nr: Option<FileNr>,
    /// What could not be read and why, one line each.
    pub notes: Vec<String>,
}

impl HostInfo {
    /// A sysctl as an integer, when it is one.
    pub(crate) fn sysctl_i64(&self, name: &str) -> Option<i64> {
        self.sysctls.get(name)?.trim().parse().ok()
    }

    /// `net.ipv4.ip_local_port_range` as (low, high).
    /// None when it is missing or not a valid range: the kernel refuses a
    /// low end above the high one, so such a value (in a dump or a captured
    /// tree) is no range to judge ports against.
    pub fn local_port_range(&self) -> Option<(u16, u16)> {
        parse_port_range(self.sysctls.get("net.ipv4.ip_local_port_range")?)
            .filter(|(lo, hi)| lo <= hi)
    }

    /// How many ports `local_port_range` spans.
    pub(crate) fn local_port_count(&self) -> Option<u32> {
        self.local_port_range()
            .map(|(lo, hi)| u32::from(hi) - u32::from(lo) + 1)
    }

    /// Kernel release as (major, minor), e.g. (6, 18).
    pub fn kernel_version(&self) -> Option<(u32, u32)> {
        parse_kernel_version(self.kernel_release.as_deref()?)
    }
}

/// "6.18.44-fc-v595" -> (6, 18).
fn parse_kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// What each scrape of the exporter measures afresh in one namespace: the
/// sockets per state and the counters.
#[derive(Clone, Debug, Default)]
pub struct NamespaceCount {
    /// Its short label when several namespaces are read, else empty.
    pub netns: String,
    pub states: BTreeMap<super::TcpState, u64>,
    pub host: HostInfo,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inverted_port_range_is_no_range() {
        let mut h = HostInfo::default();
        h.sysctls
            .insert("net.ipv4.ip_local_port_range".into(), "60999 32768".into());
        assert_eq!(h.local_port_range(), None);
        assert_eq!(h.local_port_count(), None);
        h.sysctls
            .insert("net.ipv4.ip_local_port_range".into(), "32768 60999".into());
        assert_eq!(h.local_port_count(), Some(28232));
    }

    #[test]
    fn kernel_versions_parse_from_release_strings() {
        assert_eq!(parse_kernel_version("6.18.44-fc-v595"), Some((6, 18)));
        assert_eq!(parse_kernel_version("4.9.0"), Some((4, 9)));
        assert_eq!(parse_kernel_version("garbage"), None);
    }

    #[test]
    fn port_range_needs_exactly_two_ports() {
        let mut h = HostInfo::default();
        h.sysctls
            .insert("net.ipv4.ip_local_port_range".into(), "32768 60999".into());
        assert_eq!(h.local_port_range(), Some((32768, 60999)));
        h.sysctls
            .insert("net.ipv4.ip_local_port_range".into(), "32768".into());
        assert_eq!(h.local_port_range(), None);
    }
}
