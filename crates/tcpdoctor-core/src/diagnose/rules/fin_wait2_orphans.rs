//! Orphaned FIN_WAIT2: we closed, the peer never does.

use crate::diagnose::{
    Category, Context, Evidence, Finding, Rule, RuleDoc, Severity, Threshold, Unit, tally,
};
use crate::model::Needs;
use crate::model::TcpState;

pub static DOC: RuleDoc = RuleDoc {
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

pub static FIN_WAIT2_INFO: Threshold = Threshold {
    flag: "fin-wait2-info",
    default: 100.0,
    unit: Unit::Count,
    help: "Orphaned FIN_WAIT2 sockets worth an info finding.",
};

pub static FIN_WAIT2_COUNT: Threshold = Threshold {
    flag: "fin-wait2-count",
    default: 1000.0,
    unit: Unit::Count,
    help: "Orphaned FIN_WAIT2 sockets for a warning.",
};

pub struct FinWait2Orphans;

impl Rule for FinWait2Orphans {
    fn doc(&self) -> &'static RuleDoc {
        &DOC
    }

    fn check(&self, cx: &Context) -> Vec<Finding> {
        let orphans: Vec<_> = cx
            .rows_in(TcpState::FinWait2)
            .filter(|r| r.socket.inode == 0)
            .collect();
        let n = orphans.len() as u64;
        let severity = if n >= cx.thresholds.count(&FIN_WAIT2_COUNT) {
            Severity::Warning
        } else if n >= cx.thresholds.count(&FIN_WAIT2_INFO) && n > 0 {
            Severity::Info
        } else {
            return Vec::new();
        };
        let peers = tally(orphans.iter().map(|r| r.socket.remote.to_string()));
        let top: Vec<String> = peers
            .iter()
            .take(3)
            .map(|(p, c)| format!("{p} ({c})"))
            .collect();
        let fin = cx.sysctl("net.ipv4.tcp_fin_timeout").unwrap_or(60);
        vec![
            Finding::new(
                DOC.id,
                severity,
                top.first().cloned().unwrap_or_default(),
                format!(
                    "{n} orphaned FIN_WAIT2: this \
                host closed, the peers never did ({})",
                    top.join(", ")
                ),
            )
            .evidence(
                Evidence::default()
                    .with("orphaned_fin_wait2", n)
                    .with("peers", top.join(", "))
                    .with("tcp_fin_timeout", fin),
            )
            .explain(format!(
                "These connections were closed here; the peer acknowledged the \
                    FIN but has not sent its own, so it sits in CLOSE_WAIT on its side. With no \
                    process left here, the kernel keeps each for net.ipv4.tcp_fin_timeout ({fin} \
                    s) and then drops it. tcp_fin_timeout bounds only these orphans: it does not \
                    shorten TIME_WAIT or end anyone's CLOSE_WAIT."
            ))
            .remedy(format!(
                "Look at the peers ({}): they do not close after reading EOF. Run \
                    tcpdoctor sockets --state close-wait there.",
                top.join(", ")
            )),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::{Host, severities, tcp};

    fn orphans(n: u32) -> Vec<Finding> {
        Host::new()
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
    fn a_fin_wait2_with_a_process_is_no_orphan() {
        let f = Host::new()
            .threshold("fin-wait2-info", 1.0)
            .owned(tcp(TcpState::FinWait2, "10.0.0.1:80", "10.0.0.2:1"), 5)
            .findings(&FinWait2Orphans);
        assert!(f.is_empty());
    }
}
