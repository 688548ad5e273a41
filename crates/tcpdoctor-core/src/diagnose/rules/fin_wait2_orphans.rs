//! Orphaned FIN_WAIT2: we closed, the peer never does.

use crate::diagnose::{
    Category, Context, Evidence, Finding, Rule, RuleDoc, Severity, Threshold, Unit, tally,
};
use crate::model::Needs;
use crate::model::{SocketRow, TcpState};
use std::collections::{BTreeMap, BTreeSet};

pub(super) static DOC: RuleDoc = RuleDoc {
    id: "fin-wait2-orphans",
    category: Category::Connections,
    needs: Needs::SOCKETS.and(Needs::HOST),
    diagram: Some(TcpState::FinWait2),
    trigger: "FIN_WAIT2 sockets with no process (orphans): this host closed, the peer acknowledged \
        but never closed its side. They last tcp_fin_timeout.",
    levels: "info from --fin-wait2-info orphans; warning at --fin-wait2-count",
    thresholds: &[&FIN_WAIT2_INFO, &FIN_WAIT2_COUNT],
    remedy: "The peers hold these connections in CLOSE_WAIT: fix their missing close(). \
        tcp_fin_timeout bounds these orphans (only these).",
};

pub(crate) static FIN_WAIT2_INFO: Threshold = Threshold {
    flag: "fin-wait2-info",
    default: 100.0,
    unit: Unit::Count,
    help: "Orphaned FIN_WAIT2 sockets worth an info finding.",
};

pub(crate) static FIN_WAIT2_COUNT: Threshold = Threshold {
    flag: "fin-wait2-count",
    default: 1000.0,
    unit: Unit::Count,
    help: "Orphaned FIN_WAIT2 sockets for a warning.",
};

pub(super) struct FinWait2Orphans;

impl Rule for FinWait2Orphans {
    fn doc(&self) -> &'static RuleDoc {
        &DOC
    }

    fn check(&self, cx: &Context) -> Vec<Finding> {
        // Grouped by the service whose connections were closed: our
        // listening port (we closed our clients' connections), or the
        // remote ip:port we are a client of; not by the peers' random
        // ephemeral ports.
        let listening: BTreeSet<u16> = cx
            .rows_in(TcpState::Listen)
            .map(|r| r.socket.local.port)
            .collect();
        let mut groups: BTreeMap<String, Vec<&SocketRow>> = BTreeMap::new();
        for r in cx
            .rows_in(TcpState::FinWait2)
            .filter(|r| r.socket.inode == 0)
        {
            let service = if listening.contains(&r.socket.local.port) {
                format!("port {}", r.socket.local.port)
            } else {
                r.socket.remote.to_string()
            };
            groups.entry(service).or_default().push(r);
        }
        // A dump holds no sysctls: then the default is said as one.
        let fin_read = cx.sysctl("net.ipv4.tcp_fin_timeout");
        let fin_said = match fin_read {
            Some(f) => format!("{f} s"),
            None => "60 s by default; this input holds no sysctls".to_string(),
        };
        let mut out = Vec::new();
        for (service, orphans) in groups {
            let n = orphans.len() as u64;
            let severity = if n >= cx.thresholds.count(&FIN_WAIT2_COUNT) {
                Severity::Warning
            } else if n >= cx.thresholds.count(&FIN_WAIT2_INFO) && n > 0 {
                Severity::Info
            } else {
                continue;
            };
            let served = service.starts_with("port ");
            let peers = tally(orphans.iter().map(|r| r.socket.remote.ip.to_string()));
            let top: Vec<String> = peers
                .iter()
                .take(3)
                .map(|(p, c)| format!("{p} ({c})"))
                .collect();
            let (title, remedy) = if served {
                (
                    format!(
                        "{n} orphaned FIN_WAIT2 on {service}: this server closed its clients' \
                         connections, the clients ({}) never closed theirs",
                        top.join(", ")
                    ),
                    format!(
                        "The clients of {service} ({}) do not close after reading EOF: look for \
                         CLOSE_WAIT on them (tcpdoctor sockets --state close-wait).",
                        top.join(", ")
                    ),
                )
            } else {
                (
                    format!(
                        "{n} orphaned FIN_WAIT2 toward {service}: this host closed, that server \
                         never closed its side"
                    ),
                    format!(
                        "{service} does not close after reading EOF: look for CLOSE_WAIT there \
                         (tcpdoctor sockets --state close-wait)."
                    ),
                )
            };
            out.push(
                Finding::new(DOC.id, severity, service.clone(), title)
                    .evidence(
                        Evidence::default()
                            .with("orphaned_fin_wait2", n)
                            .with("service", service)
                            .with("peers", top.join(", "))
                            .with("tcp_fin_timeout", fin_read),
                    )
                    .explain(format!(
                        "These connections were closed here; the peer acknowledged the FIN but \
                         has not sent its own, so it sits in CLOSE_WAIT on its side. With no \
                         process left here, the kernel keeps each for \
                         net.ipv4.tcp_fin_timeout ({fin_said}) and then drops it. tcp_fin_timeout \
                         bounds only these orphans: it does not shorten TIME_WAIT or end \
                         anyone's CLOSE_WAIT."
                    ))
                    .remedy(remedy),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::{Host, severities, tcp};

    /// `n` orphans of connections this server (port 80) closed.
    fn orphans(n: u32) -> Vec<Finding> {
        Host::new()
            .owned(tcp(TcpState::Listen, "0.0.0.0:80", "0.0.0.0:0"), 1)
            .each(n, |i| {
                let mut s = tcp(TcpState::FinWait2, "10.0.0.1:80", "10.0.0.2:1");
                s.remote.port = 1000 + i as u16;
                s
            })
            .findings(&FinWait2Orphans)
    }

    #[test]
    fn count_edges() {
        assert!(orphans(99).is_empty());
        assert_eq!(severities(&orphans(100)), [Severity::Info]);
        assert_eq!(severities(&orphans(999)), [Severity::Info]);
        assert_eq!(severities(&orphans(1000)), [Severity::Warning]);
    }

    #[test]
    fn grouped_by_the_service_not_the_peers_ports() {
        let f = orphans(150);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject, "port 80");
        assert!(f[0].title.contains("on port 80"), "{}", f[0].title);
        // Client side: toward one server, from many local ports.
        let f = Host::new()
            .each(150, |i| {
                let mut s = tcp(TcpState::FinWait2, "10.0.0.1:1", "10.0.0.9:6379");
                s.local.port = 40000 + i as u16;
                s
            })
            .findings(&FinWait2Orphans);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject, "10.0.0.9:6379");
    }

    #[test]
    fn a_fin_wait2_with_a_process_is_no_orphan() {
        let f = Host::new()
            .threshold("fin-wait2-info", 1.0)
            .owned(tcp(TcpState::FinWait2, "10.0.0.1:80", "10.0.0.2:1"), 5)
            .findings(&FinWait2Orphans);
        assert!(f.is_empty());
    }
}
