//! Ephemeral ports per (local IP, remote IP, remote port) against the
//! usable range.

use crate::diagnose::services;
use crate::diagnose::{
    Category, Context, Evidence, Finding, Rule, RuleDoc, Severity, Threshold, Unit,
};
use crate::model::Needs;
use crate::model::TcpState;
use crate::model::tuple_usage;

pub(super) static DOC: RuleDoc = RuleDoc {
    id: "port-exhaustion",
    category: Category::Limits,
    needs: Needs::OWNERS.and(Needs::HOST),
    diagram: Some(TcpState::TimeWait),
    trigger: "One (local IP, remote IP, remote port) holds a large share of the usable ephemeral \
        ports (ip_local_port_range minus ip_local_reserved_ports), counting every state, \
        TIME_WAIT included. connect() then fails with EADDRNOTAVAIL.",
    levels: "info at --port-info of the usable ports; warning at --port-warn; critical at \
        --port-crit",
    thresholds: &[&PORT_INFO, &PORT_WARN, &PORT_CRIT],
    remedy: "In order: reuse connections (keep-alive, pools); more 4-tuples (more upstream IPs or \
        ports, more source IPs); tcp_tw_reuse=1 on this client; a wider ip_local_port_range. \
        Never tcp_tw_recycle.",
};

static PORT_INFO: Threshold = Threshold {
    flag: "port-info",
    default: 0.25,
    unit: Unit::Ratio,
    help: "Share of the usable ephemeral ports one (local IP, remote IP, remote port) holds, worth \
        an info finding.",
};

pub(crate) static PORT_WARN: Threshold = Threshold {
    flag: "port-warn",
    default: 0.50,
    unit: Unit::Ratio,
    help: "Share of the usable ephemeral ports one (local IP, remote IP, remote port) holds, for a \
        warning.",
};

static PORT_CRIT: Threshold = Threshold {
    flag: "port-crit",
    default: 0.80,
    unit: Unit::Ratio,
    help: "Share of the usable ephemeral ports one (local IP, remote IP, remote port) holds, for \
        critical.",
};

pub(super) struct PortExhaustion;

impl Rule for PortExhaustion {
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
            let severity = if ratio >= th.get(&PORT_CRIT) {
                Severity::Critical
            } else if ratio >= th.get(&PORT_WARN) {
                Severity::Warning
            } else if ratio >= th.get(&PORT_INFO) {
                Severity::Info
            } else {
                continue;
            };
            let rip = remote.ip;
            // A proxy that churns its upstream connections has its own fix.
            let proxy = cx
                .rows
                .iter()
                .filter(|r| r.socket.remote == remote && r.socket.local.ip == lip)
                .flat_map(|r| r.owners.iter())
                .find_map(|o| services::proxy_upstream_advice(&cx.process(o.pid)?.comm));
            let states = t.by_state;
            let subject = format!("{lip} -> {remote}");
            let by_state: Vec<String> = states.iter().map(|(s, n)| format!("{s} {n}")).collect();
            let loopback = rip.is_loopback();
            let reuse_note = match reuse {
                1 => " tcp_tw_reuse=1 lets connect() take over TIME_WAIT ports older than a \
                    second, so TIME_WAIT counts here overstate the pressure."
                    .to_string(),
                2 if loopback => " tcp_tw_reuse=2 reuses TIME_WAIT ports on loopback, so the \
                    TIME_WAIT counted here may be reused."
                    .to_string(),
                _ => String::new(),
            };
            let trend = cx
                .trends
                .and_then(|t| t.upstream(cx.netns.inode, lip, remote));
            out.push(
                Finding::new(
                    DOC.id,
                    severity,
                    subject.clone(),
                    format!(
                        "{subject} holds {in_use} of \
                    {usable} usable ephemeral ports ({:.0}%)",
                        ratio * 100.0
                    ),
                )
                .evidence(
                    Evidence::default()
                        .with("local_ip", lip.to_string())
                        .with("remote", remote.to_string())
                        .with("ports_in_use", in_use)
                        .with("by_state", by_state.join(", "))
                        .with("usable_ports", usable)
                        .with("ip_local_port_range", format!("{lo}-{hi}"))
                        .with("ratio", (ratio * 1000.0).round() / 1000.0)
                        .with(
                            "sustainable_new_connections_per_s",
                            (usable as f64 / 60.0).round(),
                        )
                        // Observed over time (diagnose --for).
                        .with_some("growth_per_min", trend.and_then(|t| t.growth_per_min))
                        .with_some(
                            "time_to_exhaustion_s",
                            trend.and_then(|t| t.time_to_exhaustion_s),
                        ),
                )
                .explain(format!(
                    "An outgoing connection needs a 4-tuple of its own: toward {remote} from \
                            {lip} only the {usable} ports of the range can differ, and a port \
                            stays taken while its connection is in any state, including the 60 s \
                            of TIME_WAIT. That sustains about {:.0} new connections per second to \
                            this upstream; beyond it connect() fails with EADDRNOTAVAIL \"Cannot \
                            assign requested address\".{reuse_note}",
                    usable as f64 / 60.0
                ))
                .remedy(format!(
                    "1. Reuse connections to {remote}: {}{}. 2. Spread over more 4-tuples: more \
                            upstream IPs or ports, or more source IPs. 3. net.ipv4.tcp_tw_reuse=1 \
                            on this client (needs tcp_timestamps). 4. Widen \
                            net.ipv4.ip_local_port_range (now {lo}-{hi}), reserving service ports \
                            with ip_local_reserved_ports. Never tcp_tw_recycle: it broke clients \
                            behind NAT and is gone since Linux 4.12.",
                    services::reuse_advice(remote.port, None),
                    proxy.map_or(String::new(), |a| format!("; {a}"))
                )),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::{Host, severities, tcp};

    /// `n` connections from 10.0.0.1 to one upstream, over a range of 100
    /// usable ports.
    fn using(n: u32) -> Host {
        Host::new()
            .sysctl("net.ipv4.ip_local_port_range", "40000 40099")
            .each(n, |i| {
                let mut s = tcp(TcpState::TimeWait, "10.0.0.1:1", "10.0.0.9:5432");
                s.local.port = 40000 + i as u16;
                s
            })
    }

    #[test]
    fn share_edges_for_each_severity() {
        let sev = |n| severities(&using(n).findings(&PortExhaustion));
        assert!(sev(24).is_empty());
        assert_eq!(sev(25), [Severity::Info]);
        assert_eq!(sev(49), [Severity::Info]);
        assert_eq!(sev(50), [Severity::Warning]);
        assert_eq!(sev(79), [Severity::Warning]);
        assert_eq!(sev(80), [Severity::Critical]);
    }

    #[test]
    fn the_remedy_fits_the_service_on_the_other_end() {
        let f = using(50).findings(&PortExhaustion);
        assert!(f[0].remedy.contains("PostgreSQL"), "{}", f[0].remedy);
        assert!(!f[0].remedy.contains("nginx"), "{}", f[0].remedy);
    }

    #[test]
    fn reserved_ports_shrink_the_usable_range() {
        // 50 of 100 ports reserved: 25 in use is half of what is usable.
        let f = using(25)
            .sysctl("net.ipv4.ip_local_reserved_ports", "40050-40099")
            .findings(&PortExhaustion);
        assert_eq!(severities(&f), [Severity::Warning]);
    }

    #[test]
    fn each_upstream_is_its_own_tuple() {
        let f = using(40)
            .each(40, |i| {
                let mut s = tcp(TcpState::Established, "10.0.0.1:1", "10.0.0.8:5432");
                s.local.port = 40000 + i as u16;
                s
            })
            .findings(&PortExhaustion);
        assert_eq!(severities(&f), [Severity::Info, Severity::Info]);
    }
}
