//! Half-open connections against tcp_max_syn_backlog; SYN queue drops.

use crate::diagnose::{
    Category, Context, Evidence, Finding, Rule, RuleDoc, Severity, Threshold, Unit,
};
use crate::model::Needs;
use crate::model::TcpState;

pub(super) static DOC: RuleDoc = RuleDoc {
    id: "syn-backlog",
    category: Category::Limits,
    needs: Needs::SOCKETS.and(Needs::COUNTER_RATES),
    diagram: Some(TcpState::SynRecv),
    trigger: "SYN_RECV sockets approach net.ipv4.tcp_max_syn_backlog, or TcpExt TCPReqQFullDrop / \
        TCPReqQFullDoCookies grew (the SYN queue was full).",
    levels: "warning at --syn-backlog-warn of tcp_max_syn_backlog, or when TCPReqQFullDrop grows; \
        info when only syncookies were sent",
    thresholds: &[&SYN_BACKLOG_WARN],
    remedy: "A SYN flood or clients that never finish the handshake: keep tcp_syncookies=1; raise \
        tcp_max_syn_backlog if the load is real.",
};

static SYN_BACKLOG_WARN: Threshold = Threshold {
    flag: "syn-backlog-warn",
    default: 0.80,
    unit: Unit::Ratio,
    help: "Share of tcp_max_syn_backlog in SYN_RECV for a warning.",
};

pub(super) struct SynBacklog;

impl Rule for SynBacklog {
    fn doc(&self) -> &'static RuleDoc {
        &DOC
    }

    fn check(&self, cx: &Context) -> Vec<Finding> {
        let n = cx.count(TcpState::SynRecv) as f64;
        let max = cx.sysctl("net.ipv4.tcp_max_syn_backlog").unwrap_or(0);
        let drops = cx.delta("TCPReqQFullDrop");
        let cookies = cx.delta("TCPReqQFullDoCookies");
        let ratio = if max > 0 { n / max as f64 } else { 0.0 };
        let severity = if ratio >= cx.thresholds.get(&SYN_BACKLOG_WARN) || drops > 0 {
            Severity::Warning
        } else if cookies > 0 {
            Severity::Info
        } else {
            return Vec::new();
        };
        let syncookies = cx.sysctl("net.ipv4.tcp_syncookies");
        vec![
            Finding::new(
                DOC.id,
                severity,
                "net.ipv4.tcp_max_syn_backlog".into(),
                format!(
                    "{n} SYN_RECV against \
                tcp_max_syn_backlog {max} ({:.0}%); TCPReqQFullDrop +{drops}, \
                TCPReqQFullDoCookies +{cookies}",
                    ratio * 100.0
                ),
            )
            .evidence(
                Evidence::default()
                    .with("syn_recv", n)
                    .with("tcp_max_syn_backlog", max)
                    .with("ratio", (ratio * 1000.0).round() / 1000.0)
                    .with("req_q_full_drop_in_interval", drops)
                    .with("req_q_full_do_cookies_in_interval", cookies)
                    .with("tcp_syncookies", syncookies),
            )
            .explain(
                "SYN_RECV connections have answered a SYN and wait for the client's final \
                    ACK. When the SYN queue is full the kernel sends syncookies \
                    (tcp_syncookies=1) or drops SYNs (TCPReqQFullDrop): legitimate clients then \
                    wait seconds to connect."
                    .into(),
            )
            .remedy(format!(
                "Keep net.ipv4.tcp_syncookies=1 (now {}). If the half-open \
                    connections come from a SYN flood, filter it upstream; if from real load, \
                    raise net.ipv4.tcp_max_syn_backlog and the listen() backlog.",
                syncookies.map_or("unknown".into(), |v| v.to_string())
            )),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::{Host, severities, tcp};

    fn half_open(n: u32) -> Host {
        Host::new()
            .sysctl("net.ipv4.tcp_max_syn_backlog", "100")
            .each(n, |i| {
                let mut s = tcp(TcpState::SynRecv, "10.0.0.1:80", "10.0.0.2:1");
                s.remote.port = 1000 + i as u16;
                s
            })
    }

    #[test]
    fn ratio_edges_and_counters() {
        assert!(half_open(79).findings(&SynBacklog).is_empty());
        assert_eq!(
            severities(&half_open(80).findings(&SynBacklog)),
            [Severity::Warning]
        );
        let drops = half_open(0).counter("TCPReqQFullDrop", 1, 2);
        assert_eq!(
            severities(&drops.findings(&SynBacklog)),
            [Severity::Warning]
        );
        let cookies = half_open(0).counter("TCPReqQFullDoCookies", 0, 7);
        assert_eq!(severities(&cookies.findings(&SynBacklog)), [Severity::Info]);
    }
}
