//! tcp_tw_reuse=1 on a host that only serves: it does nothing there.

use crate::diagnose::{Context, Evidence, Finding, RuleDoc, Severity};
use crate::model::TcpState;
use std::collections::HashSet;

pub static DOC: RuleDoc = RuleDoc {
    id: "sysctl-tw-reuse-inbound",
    trigger: "net.ipv4.tcp_tw_reuse=1 while this namespace only accepts connections (no outgoing ones seen): tcp_tw_reuse applies only to connect().",
    thresholds: "info",
    remedy: "Nothing to fix; know that it does not help a server's TIME_WAIT. It helps on the clients that connect out.",
};

pub struct Rule;

impl crate::diagnose::Rule for Rule {
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
            Finding::new(DOC.id, Severity::Info, "net.ipv4.tcp_tw_reuse".into(), format!("tcp_tw_reuse=1 on a host that only serves: its {} connections are all incoming", connections.len()))
                .evidence(Evidence::default().with("tcp_tw_reuse", 1).with("incoming_connections", connections.len() as u64).with("outgoing_connections", 0))
                .explain("tcp_tw_reuse lets connect() reuse a local port still in TIME_WAIT toward the same peer. It is consulted only for outgoing connections; incoming ones (and the TIME_WAIT a server collects on its listening port) are unaffected.".into())
                .remedy("No change needed here. For a server's TIME_WAIT see time-wait-server-close; set tcp_tw_reuse=1 on the clients that run out of ports.".into()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::netns::NetnsInfo;
    use crate::collect::owners::OwnerIndex;
    use crate::diagnose::{Rule as _, Thresholds};
    use crate::listing::{RowFilter, build_rows};
    use crate::model::{Endpoint, HostInfo, Socket};
    use std::collections::BTreeMap;
    use std::net::{IpAddr, Ipv4Addr};

    // The decision on hand-made rows (addresses of other hosts);
    // tests/kernel_diagnose.rs reproduces it on the kernel.
    fn ep(a: u8, port: u16) -> Endpoint {
        Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, a)), port)
    }

    fn findings(sockets: Vec<Socket>, reuse: &str) -> Vec<Finding> {
        let mut host = HostInfo::default();
        host.sysctls
            .insert("net.ipv4.tcp_tw_reuse".into(), reuse.into());
        let ns = NetnsInfo {
            inode: 1,
            name: None,
            pid: None,
            comm: None,
            cgroup: None,
            current: true,
            path: "/x".into(),
        };
        let owners = OwnerIndex::default();
        let rows = build_rows(sockets, Some(&owners), None, &RowFilter::default());
        let th = Thresholds::default();
        let before = BTreeMap::new();
        let cx = Context {
            netns: &ns,
            rows: &rows,
            owners: &owners,
            host: &host,
            tcp_ext_before: &before,
            interval_s: 1.0,
            thresholds: &th,
            files: &[],
        };
        Rule.check(&cx)
    }

    #[test]
    fn fires_only_for_a_host_that_only_serves_with_reuse_on() {
        let server_only = vec![
            Socket::new(TcpState::Listen, ep(1, 443), Endpoint::UNSPECIFIED_V4),
            Socket::new(TcpState::Established, ep(1, 443), ep(2, 50000)),
            Socket::new(TcpState::TimeWait, ep(1, 443), ep(3, 50001)),
        ];
        assert_eq!(findings(server_only.clone(), "1").len(), 1);
        assert!(
            findings(server_only.clone(), "2").is_empty(),
            "2 is the default, loopback only"
        );
        let mut with_client = server_only;
        with_client.push(Socket::new(
            TcpState::Established,
            ep(1, 40000),
            ep(9, 5432),
        ));
        assert!(
            findings(with_client, "1").is_empty(),
            "it helps the outgoing connection"
        );
    }
}
