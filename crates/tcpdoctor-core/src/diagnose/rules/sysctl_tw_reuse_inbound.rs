//! tcp_tw_reuse=1 on a host that only serves: it does nothing there.

use crate::diagnose::{Category, Context, Evidence, Finding, Rule, RuleDoc, Severity};
use crate::model::Needs;
use crate::model::TcpState;
use std::collections::HashSet;

pub(super) static DOC: RuleDoc = RuleDoc {
    id: "sysctl-tw-reuse-inbound",
    category: Category::Sysctl,
    needs: Needs::SOCKETS.and(Needs::HOST),
    diagram: None,
    trigger: "net.ipv4.tcp_tw_reuse=1 while this namespace only accepts connections (no outgoing \
        ones seen): tcp_tw_reuse applies only to connect().",
    levels: "info",
    thresholds: &[],
    remedy: "Nothing to fix; know that it does not help a server's TIME_WAIT. It helps on the \
        clients that connect out.",
};

pub(super) struct SysctlTwReuseInbound;

impl Rule for SysctlTwReuseInbound {
    fn doc(&self) -> &'static RuleDoc {
        &DOC
    }

    fn check(&self, cx: &Context) -> Vec<Finding> {
        if cx.sysctl("net.ipv4.tcp_tw_reuse") != Some(1) {
            return Vec::new();
        }
        let listening: HashSet<u16> = cx
            .rows_in(TcpState::Listen)
            .map(|r| r.socket.local.port)
            .collect();
        let connections: Vec<_> = cx
            .rows
            .iter()
            .filter(|r| r.socket.state != TcpState::Listen)
            .collect();
        let outgoing = connections
            .iter()
            .filter(|r| !listening.contains(&r.socket.local.port))
            .count();
        if listening.is_empty() || connections.is_empty() || outgoing > 0 {
            return Vec::new();
        }
        vec![
            Finding::new(
                DOC.id,
                Severity::Info,
                "net.ipv4.tcp_tw_reuse".into(),
                format!(
                    "tcp_tw_reuse=1 on a host that \
                only serves: its {} connections are all incoming",
                    connections.len()
                ),
            )
            .evidence(
                Evidence::default()
                    .with("tcp_tw_reuse", 1)
                    .with("incoming_connections", connections.len() as u64)
                    .with("outgoing_connections", 0),
            )
            .explain(
                "tcp_tw_reuse lets connect() reuse a local port still in TIME_WAIT toward \
                    the same peer. It is consulted only for outgoing connections; incoming ones \
                    (and the TIME_WAIT a server collects on its listening port) are unaffected."
                    .into(),
            )
            .remedy(
                "No change needed here. For a server's TIME_WAIT see \
                    time-wait-server-close; set tcp_tw_reuse=1 on the clients that run out of \
                    ports."
                    .into(),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::{Host, tcp};

    // Addresses of other hosts: the decision on made-up rows;
    // tests/it/kernel_diagnose.rs reproduces it on the kernel.
    fn server_only(reuse: &str) -> Host {
        Host::new()
            .sysctl("net.ipv4.tcp_tw_reuse", reuse)
            .socket(tcp(TcpState::Listen, "10.0.0.1:443", "0.0.0.0:0"))
            .socket(tcp(TcpState::Established, "10.0.0.1:443", "10.0.0.2:50000"))
            .socket(tcp(TcpState::TimeWait, "10.0.0.1:443", "10.0.0.3:50001"))
    }

    #[test]
    fn fires_only_for_a_host_that_only_serves_with_reuse_on() {
        let f = server_only("1").findings(&SysctlTwReuseInbound);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Info);
        assert!(
            server_only("2").findings(&SysctlTwReuseInbound).is_empty(),
            "2 is the default, loopback only"
        );
        assert!(server_only("0").findings(&SysctlTwReuseInbound).is_empty());
        let with_client = server_only("1").socket(tcp(
            TcpState::Established,
            "10.0.0.1:40000",
            "10.0.0.9:5432",
        ));
        assert!(
            with_client.findings(&SysctlTwReuseInbound).is_empty(),
            "it helps the outgoing connection"
        );
    }
}
