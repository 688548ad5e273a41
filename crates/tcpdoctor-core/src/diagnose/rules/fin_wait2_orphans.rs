//! Orphaned FIN_WAIT2: we closed, the peer never does.

use crate::diagnose::{Context, Evidence, Finding, RuleDoc, Severity, tally};
use crate::model::TcpState;

pub static DOC: RuleDoc = RuleDoc {
    id: "fin-wait2-orphans",
    trigger: "FIN_WAIT2 sockets with no process (orphans): this host closed, the peer acknowledged but never closed its side. They last tcp_fin_timeout.",
    thresholds: "info from 100; warning at --fin-wait2-count 1000",
    remedy: "The peers hold these connections in CLOSE_WAIT: fix their missing close(). tcp_fin_timeout bounds these orphans (only these).",
};

pub struct Rule;

impl crate::diagnose::Rule for Rule {
    fn doc(&self) -> &'static RuleDoc {
        &DOC
    }

    fn check(&self, cx: &Context) -> Vec<Finding> {
        let orphans: Vec<_> = cx
            .rows_in(TcpState::FinWait2)
            .filter(|r| r.socket.inode == 0)
            .collect();
        let n = orphans.len() as u64;
        let limit = cx.thresholds.fin_wait2_count;
        let severity = if n >= limit {
            Severity::Warning
        } else if n >= limit / 10 && n > 0 {
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
            Finding::new(DOC.id, severity, top.first().cloned().unwrap_or_default(), format!("{n} orphaned FIN_WAIT2: this host closed, the peers never did ({})", top.join(", ")))
                .evidence(Evidence::default().with("orphaned_fin_wait2", n).with("peers", top.join(", ")).with("tcp_fin_timeout", fin))
                .explain(format!("These connections were closed here; the peer acknowledged the FIN but has not sent its own, so it sits in CLOSE_WAIT on its side. With no process left here, the kernel keeps each for net.ipv4.tcp_fin_timeout ({fin} s) and then drops it. tcp_fin_timeout bounds only these orphans: it does not shorten TIME_WAIT or end anyone's CLOSE_WAIT."))
                .remedy(format!("Look at the peers ({}): they do not close after reading EOF. Run tcpdoctor sockets --state close-wait there.", top.join(", "))),
        ]
    }
}
