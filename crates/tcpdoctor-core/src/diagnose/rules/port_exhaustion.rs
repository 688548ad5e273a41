//! Ephemeral ports per (local IP, remote IP, remote port) against the
//! usable range.

use crate::diagnose::{Context, Evidence, Finding, RuleDoc, Severity};
use crate::model::TcpState;
use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

pub static DOC: RuleDoc = RuleDoc {
    id: "port-exhaustion",
    trigger: "One (local IP, remote IP, remote port) holds a large share of the usable ephemeral ports (ip_local_port_range minus ip_local_reserved_ports), counting every state, TIME_WAIT included. connect() then fails with EADDRNOTAVAIL.",
    thresholds: "info at half of --port-warn; warning at --port-warn 50%; critical at --port-crit 80%",
    remedy: "In order: reuse connections (keep-alive, pools); more 4-tuples (more upstream IPs or ports, more source IPs); tcp_tw_reuse=1 on this client; a wider ip_local_port_range. Never tcp_tw_recycle.",
};

pub struct Rule;

/// "1000-1010,2000" -> ports.
pub fn parse_reserved(text: &str) -> HashSet<u16> {
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
pub struct TupleUsage {
    pub local_ip: IpAddr,
    pub remote: crate::model::Endpoint,
    /// Ports held, per state (TIME_WAIT included).
    pub by_state: BTreeMap<&'static str, u64>,
    pub in_use: u64,
    pub usable: u64,
    pub range: (u16, u16),
}

impl TupleUsage {
    pub fn ratio(&self) -> f64 {
        self.in_use as f64 / self.usable as f64
    }
}

/// Every tuple's port use, from a namespace's rows and sysctls: what this
/// rule judges and what the exporter reports.
pub fn tuple_usage(
    rows: &[crate::listing::SocketRow],
    host: &crate::model::HostInfo,
) -> Vec<TupleUsage> {
    let Some((lo, hi)) = host.local_port_range() else {
        return Vec::new();
    };
    let reserved = host
        .sysctls
        .get("net.ipv4.ip_local_reserved_ports")
        .map(|r| parse_reserved(r))
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
            remote: crate::model::Endpoint::new(rip, rport),
            in_use: by_state.values().sum(),
            by_state,
            usable,
            range: (lo, hi),
        })
        .collect()
}

impl crate::diagnose::Rule for Rule {
    fn doc(&self) -> &'static RuleDoc {
        &DOC
    }

    fn check(&self, cx: &Context) -> Vec<Finding> {
        let th = cx.thresholds;
        let reuse = cx.sysctl("net.ipv4.tcp_tw_reuse").unwrap_or(2);
        let mut out = Vec::new();
        for t in tuple_usage(cx.rows, cx.host) {
            let (lip, remote, usable, (lo, hi)) = (t.local_ip, t.remote, t.usable, t.range);
            let (in_use, ratio) = (t.in_use, t.ratio());
            let severity = if ratio >= th.port_crit {
                Severity::Critical
            } else if ratio >= th.port_warn {
                Severity::Warning
            } else if ratio >= th.port_warn / 2.0 {
                Severity::Info
            } else {
                continue;
            };
            let rip = remote.ip;
            let states = t.by_state;
            let subject = format!("{lip} -> {remote}");
            let by_state: Vec<String> = states.iter().map(|(s, n)| format!("{s} {n}")).collect();
            let loopback = rip.is_loopback();
            let reuse_note = match reuse {
                1 => " tcp_tw_reuse=1 lets connect() take over TIME_WAIT ports older than a second, so TIME_WAIT counts here overstate the pressure.".to_string(),
                2 if loopback => " tcp_tw_reuse=2 reuses TIME_WAIT ports on loopback, so the TIME_WAIT counted here may be reused.".to_string(),
                _ => String::new(),
            };
            out.push(
                Finding::new(DOC.id, severity, subject.clone(), format!("{subject} holds {in_use} of {usable} usable ephemeral ports ({:.0}%)", ratio * 100.0))
                    .evidence(
                        Evidence::default()
                            .with("local_ip", lip.to_string())
                            .with("remote", remote.to_string())
                            .with("ports_in_use", in_use)
                            .with("by_state", by_state.join(", "))
                            .with("usable_ports", usable)
                            .with("ip_local_port_range", format!("{lo}-{hi}"))
                            .with("ratio", (ratio * 1000.0).round() / 1000.0)
                            .with("sustainable_new_connections_per_s", (usable as f64 / 60.0).round()),
                    )
                    .explain(format!(
                        "An outgoing connection needs a 4-tuple of its own: toward {remote} from {lip} only the {usable} ports of the range can differ, and a port stays taken while its connection is in any state, including the 60 s of TIME_WAIT. That sustains about {:.0} new connections per second to this upstream; beyond it connect() fails with EADDRNOTAVAIL \"Cannot assign requested address\".{reuse_note}",
                        usable as f64 / 60.0
                    ))
                    .remedy(format!(
                        "1. Reuse connections to {remote}: HTTP keep-alive, a connection pool (nginx: keepalive in the upstream block, proxy_http_version 1.1, proxy_set_header Connection \"\"). 2. Spread over more 4-tuples: more upstream IPs or ports, or more source IPs. 3. net.ipv4.tcp_tw_reuse=1 on this client (needs tcp_timestamps). 4. Widen net.ipv4.ip_local_port_range (now {lo}-{hi}), reserving service ports with ip_local_reserved_ports. Never tcp_tw_recycle: it broke clients behind NAT and is gone since Linux 4.12."
                    )),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_port_lists_parse() {
        let r = parse_reserved("1000-1002, 2000");
        assert_eq!(r.len(), 4);
        assert!(r.contains(&1001) && r.contains(&2000));
        assert!(parse_reserved("").is_empty());
    }
}
