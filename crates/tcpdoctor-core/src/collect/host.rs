//! Counters, sysctls and limits: /proc/net/{sockstat,sockstat6,snmp,netstat},
//! /proc/sys. Each reader is split in two: a pure `parse_*` over text, tested
//! on captured files, and a small function that does the I/O.

use super::ProcRoot;
use crate::error::{Error, Result};
use crate::model::{FileNr, HostInfo, Sockstat};
use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::Path;

/// The sysctls tcpdoctor reads besides every `net.ipv4.tcp_*` one.
const EXTRA_SYSCTLS: &[&str] = &[
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.core.somaxconn",
    "net.core.netdev_max_backlog",
    "fs.file-max",
    "fs.nr_open",
];

/// Sysctls never read: they hold secrets.
const SECRET_SYSCTLS: &[&str] = &["net.ipv4.tcp_fastopen_key"];

/// Parses the `TCP:` line of sockstat and the `TCP6:` line of sockstat6.
pub(crate) fn parse_sockstat(path: &Path, text: &str, text6: Option<&str>) -> Result<Sockstat> {
    let mut out = Sockstat::default();
    let (line_no, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.starts_with("TCP:"))
        .ok_or_else(|| {
            Error::parse(
                path,
                1,
                "a line starting with 'TCP:'",
                text.lines().next().unwrap_or(""),
            )
        })?;
    let mut words = line["TCP:".len()..].split_whitespace();
    while let (Some(key), Some(val)) = (words.next(), words.next()) {
        let v: u64 = val.parse().map_err(|_| {
            Error::parse(
                path,
                line_no + 1,
                "'TCP: inuse N orphan N tw N alloc N mem N'",
                line,
            )
        })?;
        match key {
            "inuse" => out.inuse = v,
            "orphan" => out.orphan = v,
            "tw" => out.tw = v,
            "alloc" => out.alloc = v,
            "mem" => out.mem_pages = v,
            _ => {}
        }
    }
    if let Some(t6) = text6 {
        out.inuse6 = t6
            .lines()
            .find_map(|l| l.strip_prefix("TCP6:"))
            .and_then(|rest| {
                let mut w = rest.split_whitespace();
                (w.next() == Some("inuse")).then(|| w.next()?.parse().ok())?
            });
    }
    Ok(out)
}

/// Parses the two-line tables of /proc/net/snmp and /proc/net/netstat for
/// one prefix ("Tcp", "TcpExt"): a line of names then a line of values.
fn parse_counter_table(path: &Path, text: &str, prefix: &str) -> Result<BTreeMap<String, i64>> {
    let tag = format!("{prefix}:");
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.split_whitespace().next() == Some(tag.as_str()));
    let mut out = BTreeMap::new();
    let Some((_, names)) = lines.next() else {
        return Ok(out);
    };
    let (values_no, values) = lines.next().ok_or_else(|| {
        Error::parse(
            path,
            text.lines().count(),
            "a line of values after the line of names",
            names,
        )
    })?;
    let names: Vec<&str> = names.split_whitespace().skip(1).collect();
    let vals: Vec<&str> = values.split_whitespace().skip(1).collect();
    if names.len() != vals.len() {
        return Err(Error::parse(
            path,
            values_no + 1,
            "as many values as there are counter names on the line before",
            values,
        ));
    }
    for (n, v) in names.into_iter().zip(vals) {
        let v: i64 = v
            .parse()
            .map_err(|_| Error::parse(path, values_no + 1, "integer counter values", values))?;
        out.insert(n.to_string(), v);
    }
    Ok(out)
}

/// Parses fs.file-nr ("allocated free max").
fn parse_file_nr(path: &Path, text: &str) -> Result<FileNr> {
    let nums: Vec<u64> = text
        .split_whitespace()
        .map(|w| w.parse().ok())
        .collect::<Option<_>>()
        .ok_or_else(|| {
            Error::parse(path, 1, "three integers: allocated, free, max", text.trim())
        })?;
    match nums[..] {
        [allocated, free, max] => Ok(FileNr {
            allocated,
            free,
            max,
        }),
        _ => Err(Error::parse(
            path,
            1,
            "three integers: allocated, free, max",
            text.trim(),
        )),
    }
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match super::read_small(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Reads one counter table ("snmp"/"Tcp", "netstat"/"TcpExt") of the
/// calling thread's namespace; None when the file is missing.
pub(super) fn read_counters(
    root: &ProcRoot,
    file: &str,
    prefix: &str,
) -> Result<Option<BTreeMap<String, i64>>> {
    let p = root.net_file(file);
    match read_optional(&p)? {
        Some(t) => parse_counter_table(&p, &t, prefix).map(Some),
        None => Ok(None),
    }
}

/// Reads every sysctl tcpdoctor uses; unreadable ones are named in `notes`.
fn read_sysctls(root: &ProcRoot, notes: &mut Vec<String>) -> BTreeMap<String, String> {
    let mut names: Vec<String> = Vec::new();
    let ipv4 = root.sysctl_path("net.ipv4");
    match std::fs::read_dir(&ipv4) {
        Ok(dir) => {
            for e in dir.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with("tcp_") {
                    names.push(format!("net.ipv4.{n}"));
                }
            }
        }
        Err(e) => notes.push(format!("cannot list {}: {e}", ipv4.display())),
    }
    names.extend(EXTRA_SYSCTLS.iter().map(|s| s.to_string()));
    names.retain(|n| !SECRET_SYSCTLS.contains(&n.as_str()));
    let mut out = BTreeMap::new();
    let mut unreadable = Vec::new();
    for name in names {
        let path = root.sysctl_path(&name);
        match super::read_small(&path) {
            Ok(v) => {
                out.insert(name, v.split_whitespace().collect::<Vec<_>>().join(" "));
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => unreadable.push(format!("{name} ({e})")),
        }
    }
    if !unreadable.is_empty() {
        notes.push(format!("sysctls not readable: {}", unreadable.join(", ")));
    }
    out
}

/// Reads counters, sysctls, limits and the kernel release. Never fails as a
/// whole: what could not be read is said in `notes`.
pub fn read_host_info(root: &ProcRoot) -> HostInfo {
    let mut h = HostInfo::default();
    let note = |h: &mut HostInfo, e: Error| h.notes.push(e.to_string());

    match read_optional(&root.path("sys/kernel/osrelease")) {
        Ok(Some(s)) => h.kernel_release = Some(s.trim().to_string()),
        Ok(None) => h
            .notes
            .push("kernel release unknown: sys/kernel/osrelease missing".into()),
        Err(e) => note(&mut h, e),
    }

    let ss_path = root.net_file("sockstat");
    let ss6_path = root.net_file("sockstat6");
    match (read_optional(&ss_path), read_optional(&ss6_path)) {
        (Ok(Some(t)), Ok(t6)) => {
            if t6.is_none() {
                h.notes.push(format!(
                    "{} missing (IPv6 disabled?): no IPv6 in-use count",
                    ss6_path.display()
                ));
            }
            match parse_sockstat(&ss_path, &t, t6.as_deref()) {
                Ok(s) => h.sockstat = Some(s),
                Err(e) => note(&mut h, e),
            }
        }
        (Ok(None), _) => h
            .notes
            .push(format!("{} missing: no sockstat totals", ss_path.display())),
        (Err(e), _) | (_, Err(e)) => note(&mut h, e),
    }

    for (file, prefix) in [("snmp", "Tcp"), ("netstat", "TcpExt")] {
        match read_counters(root, file, prefix) {
            Ok(Some(m)) if prefix == "Tcp" => h.tcp = m,
            Ok(Some(m)) => h.tcp_ext = m,
            Ok(None) => h.notes.push(format!(
                "{} missing: no {prefix} counters",
                root.net_file(file).display()
            )),
            Err(e) => note(&mut h, e),
        }
    }

    let fnr = root.sysctl_path("fs.file-nr");
    match read_optional(&fnr) {
        Ok(Some(t)) => match parse_file_nr(&fnr, &t) {
            Ok(f) => h.file_nr = Some(f),
            Err(e) => note(&mut h, e),
        },
        Ok(None) => h
            .notes
            .push(format!("{} missing: no file handle counts", fnr.display())),
        Err(e) => note(&mut h, e),
    }

    let mut notes = Vec::new();
    h.sysctls = read_sysctls(root, &mut notes);
    h.notes.extend(notes);
    h
}

/// This process's effective capabilities (the CapEff mask of
/// /proc/self/status), or None when they cannot be read.
pub fn effective_capabilities() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line["CapEff:".len()..].trim(), 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockstat_lines_parse() {
        let t =
            "sockets: used 10\nTCP: inuse 5 orphan 1 tw 1200 alloc 7 mem 3\nUDP: inuse 0 mem 0\n";
        let s = parse_sockstat(
            Path::new("sockstat"),
            t,
            Some("TCP6: inuse 2\nUDP6: inuse 0\n"),
        )
        .expect("parses");
        assert_eq!(
            (s.inuse, s.orphan, s.tw, s.alloc, s.mem_pages, s.inuse6),
            (5, 1, 1200, 7, 3, Some(2))
        );
        let err =
            parse_sockstat(Path::new("/x/sockstat"), "garbage", None).expect_err("no TCP line");
        assert!(
            err.to_string()
                .starts_with("/x/sockstat:1: expected a line starting with 'TCP:'")
        );
    }

    #[test]
    fn counter_tables_pair_names_with_values() {
        let t = "Tcp: RtoAlgorithm MaxConn ActiveOpens\nTcp: 1 -1 42\nUdp: InDatagrams\nUdp: 3\n";
        let m = parse_counter_table(Path::new("snmp"), t, "Tcp").expect("parses");
        assert_eq!(m.get("MaxConn"), Some(&-1));
        assert_eq!(m.get("ActiveOpens"), Some(&42));
        assert_eq!(m.len(), 3);
        let bad = "Tcp: A B\nTcp: 1\n";
        let e = parse_counter_table(Path::new("/p/snmp"), bad, "Tcp").expect_err("mismatch");
        assert!(
            e.to_string()
                .starts_with("/p/snmp:2: expected as many values"),
            "{e}"
        );
    }

    #[test]
    fn file_nr_needs_three_numbers() {
        assert_eq!(
            parse_file_nr(Path::new("f"), "1024\t0\t2469238\n").expect("parses"),
            FileNr {
                allocated: 1024,
                free: 0,
                max: 2469238
            }
        );
        assert!(parse_file_nr(Path::new("f"), "1 2").is_err());
        assert!(parse_file_nr(Path::new("f"), "a b c").is_err());
    }
}
