//! Ephemeral-port use per (local IP, remote): a client that churns
//! connections to one upstream runs out of ports for it alone.

use super::{Collector, Input, Writer};
use crate::model::{NsSnapshot, SocketRow, tuple_usage};

/// Every tuple's share of the usable ports in one namespace:
/// (netns, local ip, remote, ratio).
pub(super) fn usage(
    ns: &str,
    nsnap: &NsSnapshot,
    rows: &[SocketRow<'_>],
) -> impl Iterator<Item = (String, String, String, f64)> {
    tuple_usage(rows, &nsnap.host).into_iter().map(move |t| {
        (
            ns.to_string(),
            t.local_ip.to_string(),
            t.remote.to_string(),
            t.ratio(),
        )
    })
}

/// The `top` highest shares, highest first (ties stay in the order found).
pub(super) fn highest(
    mut ports: Vec<(String, String, String, f64)>,
    top: usize,
) -> Vec<(String, String, String, f64)> {
    ports.sort_by(|a, b| b.3.total_cmp(&a.3));
    ports.truncate(top);
    ports
}

/// `tcpdoctor_port_utilization_ratio`.
pub(super) struct PortUtilization;

impl Collector for PortUtilization {
    fn collect(&self, input: &Input<'_>, out: &mut Writer<'_>) {
        let mut f = out.gauge(
            "tcpdoctor_port_utilization_ratio",
            "Share of usable ephemeral ports one (local IP, remote) holds (top N).",
        );
        for (ns, lip, remote, r) in &input.full.port_utilization {
            f.sample(&[("netns", ns), ("local_ip", lip), ("remote", remote)], *r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::FullMetrics;
    use super::super::tests::{input_of, written};
    use super::*;
    use crate::model::{LikelyOwners, Socket, TcpState};

    #[test]
    fn shares_are_measured_ranked_and_written() {
        let mut nsnap = NsSnapshot::default();
        nsnap
            .host
            .sysctls
            .insert("net.ipv4.ip_local_port_range".into(), "40000\t40099".into());
        let ep = |s: &str| s.parse().expect("endpoint");
        let mut sockets = Vec::new();
        for (port, remote) in [(40000, "10.0.0.9:5432"), (40001, "10.0.0.9:5432")] {
            let local = ep(&format!("10.0.0.1:{port}"));
            sockets.push(Socket::new(TcpState::TimeWait, local, ep(remote)));
        }
        let local = ep("10.0.0.1:40002");
        sockets.push(Socket::new(TcpState::Established, local, ep("10.0.0.8:80")));
        let rows: Vec<SocketRow<'_>> = sockets
            .iter()
            .map(|socket| SocketRow {
                socket,
                netns: None,
                age_s: None,
                owners: &[],
                likely_owners: LikelyOwners::new(),
                closed_by: None,
                side: None,
            })
            .collect();
        let all: Vec<_> = usage("", &nsnap, &rows).collect();
        assert_eq!(all.len(), 2);
        let top = highest(all, 1);
        let expect = ("", "10.0.0.1", "10.0.0.9:5432", 0.02);
        assert_eq!(
            top,
            vec![(
                expect.0.to_string(),
                expect.1.to_string(),
                expect.2.to_string(),
                expect.3
            )]
        );
        let full = FullMetrics {
            port_utilization: top,
            ..FullMetrics::default()
        };
        let text = written(&PortUtilization, &input_of(&full));
        assert!(text.ends_with(
            "tcpdoctor_port_utilization_ratio{netns=\"\",local_ip=\"10.0.0.1\",\
             remote=\"10.0.0.9:5432\"} 0.02\n"
        ));
    }
}
