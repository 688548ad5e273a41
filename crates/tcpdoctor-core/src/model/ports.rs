//! Ephemeral-port use per (local IP, remote IP, remote port): connect()
//! needs a free local port per such tuple, from ip_local_port_range minus
//! ip_local_reserved_ports.

use super::{Endpoint, HostInfo, SocketRow, TcpState};
use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

/// "1000-1010,2000" -> ports.
pub(crate) fn parse_reserved_ports(text: &str) -> HashSet<u16> {
    let mut set = HashSet::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
            set.extend(a..=b);
        }
    }
    set
}

/// Ephemeral-port use of one (local IP, remote IP, remote port).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TupleUsage {
    pub local_ip: IpAddr,
    pub remote: Endpoint,
    /// Ports held, per state (TIME_WAIT included).
    pub by_state: BTreeMap<&'static str, u64>,
    pub in_use: u64,
    pub usable: u64,
    pub range: (u16, u16),
}

impl TupleUsage {
    pub(crate) fn ratio(&self) -> f64 {
        self.in_use as f64 / self.usable as f64
    }
}

/// Every tuple's port use, from a namespace's rows and sysctls: what the
/// port-exhaustion rule judges and what the exporter reports.
pub(crate) fn tuple_usage(rows: &[SocketRow<'_>], host: &HostInfo) -> Vec<TupleUsage> {
    let Some((lo, hi)) = host.local_port_range() else {
        return Vec::new();
    };
    let reserved = host
        .sysctls
        .get("net.ipv4.ip_local_reserved_ports")
        .map(|r| parse_reserved_ports(r))
        .unwrap_or_default();
    let usable = (u32::from(lo)..=u32::from(hi))
        .filter(|p| !reserved.contains(&(*p as u16)))
        .count() as u64;
    if usable == 0 {
        return Vec::new();
    }
    let listening: HashSet<u16> = rows
        .iter()
        .filter(|r| r.socket.state == TcpState::Listen)
        .map(|r| r.socket.local.port)
        .collect();
    let mut tuples: BTreeMap<(IpAddr, IpAddr, u16), BTreeMap<&'static str, u64>> = BTreeMap::new();
    for r in rows {
        let s = &r.socket;
        if s.state == TcpState::Listen
            || listening.contains(&s.local.port)
            || s.local.port < lo
            || s.local.port > hi
        {
            continue;
        }
        *tuples
            .entry((s.local.ip, s.remote.ip, s.remote.port))
            .or_default()
            .entry(s.state.netstat_name())
            .or_insert(0) += 1;
    }
    tuples
        .into_iter()
        .map(|((lip, rip, rport), by_state)| TupleUsage {
            local_ip: lip,
            remote: Endpoint::new(rip, rport),
            in_use: by_state.values().sum(),
            by_state,
            usable,
            range: (lo, hi),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_port_lists_parse() {
        let r = parse_reserved_ports("1000-1002, 2000");
        assert_eq!(r.len(), 4);
        assert!(r.contains(&1001) && r.contains(&2000));
        assert!(parse_reserved_ports("").is_empty());
    }
}
