//! `tcpdoctor host` as text: kernel, totals, limits, counters, sysctls.

use super::text::Shown;
use crate::model::HostInfo;
use std::io::{self, Write};

/// TcpExt counters worth showing first, in this order.
const KEY_TCPEXT: &[&str] = &[
    "TW",
    "TWRecycled",
    "TCPTimeWaitOverflow",
    "ListenOverflows",
    "ListenDrops",
    "TCPReqQFullDrop",
    "TCPReqQFullDoCookies",
    "TCPAbortOnClose",
    "TCPAbortOnData",
    "TCPAbortOnMemory",
    "TCPAbortOnTimeout",
    "TCPAbortOnLinger",
];

/// Tcp counters worth showing, in this order.
const KEY_TCP: &[&str] = &[
    "CurrEstab",
    "ActiveOpens",
    "PassiveOpens",
    "AttemptFails",
    "EstabResets",
    "OutRsts",
];

pub fn text(h: &HostInfo, all: bool, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "kernel       {}",
        Shown(h.kernel_release.as_deref().unwrap_or("unknown"))
    )?;
    if let Some(s) = &h.sockstat {
        let v6 = s.inuse6.map_or(String::new(), |n| format!(" (+{n} IPv6)"));
        writeln!(
            out,
            "sockstat     inuse {}{v6}, orphan {}, tw {}, alloc {}, mem {} pages",
            s.inuse, s.orphan, s.tw, s.alloc, s.mem_pages
        )?;
    }
    if let Some(f) = &h.file_nr {
        writeln!(
            out,
            "file handles {} allocated of fs.file-max {}",
            f.allocated, f.max
        )?;
    }
    match (h.local_port_range(), h.local_port_count()) {
        (Some((lo, hi)), Some(n)) => writeln!(
            out,
            "ports        ip_local_port_range {lo}-{hi} ({n} ports)"
        )?,
        _ => {
            if let Some(v) = h.sysctls.get("net.ipv4.ip_local_port_range") {
                writeln!(
                    out,
                    "ports        ip_local_port_range \"{}\": not a range (low above high, or not \
                        two ports)",
                    Shown(v)
                )?;
            }
        }
    }
    let section = |out: &mut dyn Write,
                   title: &str,
                   map: &std::collections::BTreeMap<String, i64>,
                   keys: &[&str]|
     -> io::Result<()> {
        writeln!(out, "\n{title}")?;
        if all {
            for (k, v) in map {
                writeln!(out, "  {:<28} {v}", Shown(k))?;
            }
        } else {
            for k in keys {
                if let Some(v) = map.get(*k) {
                    writeln!(out, "  {k:<28} {v}")?;
                }
            }
        }
        Ok(())
    };
    section(out, "Tcp counters (/proc/net/snmp)", &h.tcp, KEY_TCP)?;
    section(
        out,
        "TcpExt counters (/proc/net/netstat)",
        &h.tcp_ext,
        KEY_TCPEXT,
    )?;
    writeln!(out, "\nsysctls")?;
    for (k, v) in &h.sysctls {
        writeln!(out, "  {:<40} {}", Shown(k), Shown(v))?;
    }
    Ok(())
}
