//! The diagnosis that counts per state allow, and no more: what the classic
//! `netstat -n | awk '/^tcp/ {++S[$NF]} ...'` census prints (`TIME_WAIT
//! 814`). Each notable count says what it means, whether it can hurt, and
//! which command to run on the host to learn what counts cannot tell
//! (which process, which peer, how old). Thresholds are the rules' own.

use super::rules::{close_wait_leak, fin_wait2_orphans, port_exhaustion, time_wait_server_close};
use super::{Diagnosis, Evidence, Finding, Severity, Summary, Thresholds};
use crate::model::TcpState;

/// The ports of the kernel's default ip_local_port_range (32768-60999):
/// what one upstream can hold at most unless the range was widened.
const DEFAULT_EPHEMERAL_PORTS: u64 = 60999 - 32768 + 1;

/// What counts alone cannot tell, said once with every such diagnosis.
const COUNTS_CANNOT_TELL: &str = "counts alone cannot tell which process holds a socket, \
     which peer or port it belongs to, how old it is, or the host's limits and sysctls: run the \
     commands the findings name on the host itself";

/// Diagnoses counts per state.
pub(crate) fn diagnose(
    states: &[(TcpState, u64)],
    th: &Thresholds,
    notes: Vec<String>,
) -> Diagnosis {
    let count = |s: TcpState| states.iter().find(|(x, _)| *x == s).map_or(0, |(_, n)| *n);
    let total: u64 = states.iter().map(|(_, n)| n).sum();
    let mut findings = Vec::new();

    let tw = count(TcpState::TimeWait);
    if tw >= th.count(&time_wait_server_close::TIME_WAIT_INFO) {
        let ports_at_risk =
            tw as f64 >= th.get(&port_exhaustion::PORT_WARN) * DEFAULT_EPHEMERAL_PORTS as f64;
        let severity = if ports_at_risk {
            Severity::Warning
        } else {
            Severity::Info
        };
        findings.push(
            Finding::new(
                "counts-time-wait",
                severity,
                "TIME_WAIT".into(),
                format!("{tw} TIME_WAIT: connections this host closed first, each kept 60 s"),
            )
            .evidence(
                Evidence::default()
                    .with("time_wait", tw)
                    .with("total", total)
                    .with(
                        "new_connections_per_s_if_steady",
                        (tw as f64 / 60.0).round(),
                    ),
            )
            .explain(format!(
                "TIME_WAIT belongs to whichever side closed first and lasts a fixed 60 s on \
                 Linux; tcp_fin_timeout does not shorten it. By itself it is harmless (~168 \
                 bytes each). It hurts only when the connections go to one upstream from \
                 ephemeral ports: {} ports (the default range) is the most one (local IP, \
                 remote IP, remote port) can hold, TIME_WAIT included{}. If the churn is \
                 steady, {tw} TIME_WAIT is about {:.0} new connections per second.",
                DEFAULT_EPHEMERAL_PORTS,
                if ports_at_risk {
                    ", and this many could exhaust it"
                } else {
                    ""
                },
                tw as f64 / 60.0
            ))
            .remedy(
                "On the host: `tcpdoctor census --state time-wait --by remote` (many toward \
                 one upstream: a client opening a connection per request, reuse connections) \
                 and `--by local-port` (on a listening port: a server that closes first, \
                 harmless); `tcpdoctor diagnose` judges ports against the real range. Never \
                 tcp_tw_recycle."
                    .into(),
            ),
        );
    }

    let cw = count(TcpState::CloseWait);
    if cw >= th.count(&close_wait_leak::CLOSE_WAIT_INFO) {
        let severity = if cw >= th.count(&close_wait_leak::CLOSE_WAIT_COUNT_CRIT) {
            Severity::Critical
        } else if cw >= th.count(&close_wait_leak::CLOSE_WAIT_COUNT) {
            Severity::Warning
        } else {
            Severity::Info
        };
        findings.push(
            Finding::new(
                "counts-close-wait",
                severity,
                "CLOSE_WAIT".into(),
                format!("{cw} CLOSE_WAIT: peers closed and a program here has not"),
            )
            .evidence(
                Evidence::default()
                    .with("close_wait", cw)
                    .with("total", total),
            )
            .explain(
                "CLOSE_WAIT means the peer sent its FIN and the owning program has not called \
                 close(); only that program can end it, no sysctl does. Each holds a file \
                 descriptor, so a growing count ends in \"Too many open files\". A few that \
                 clear within seconds are normal."
                    .into(),
            )
            .remedy(
                "On the host: `tcpdoctor sockets --state close-wait` names the process, fd, \
                 peer, age and Recv-Q of each; `tcpdoctor diagnose` tells a server missing its \
                 EOF path from a client pool keeping connections the server closed."
                    .into(),
            ),
        );
    }

    let fw2 = count(TcpState::FinWait2);
    if fw2 >= th.count(&fin_wait2_orphans::FIN_WAIT2_INFO) {
        let severity = if fw2 >= th.count(&fin_wait2_orphans::FIN_WAIT2_COUNT) {
            Severity::Warning
        } else {
            Severity::Info
        };
        findings.push(
            Finding::new(
                "counts-fin-wait2",
                severity,
                "FIN_WAIT2".into(),
                format!("{fw2} FIN_WAIT2: this host closed, the peers have not yet"),
            )
            .evidence(
                Evidence::default()
                    .with("fin_wait2", fw2)
                    .with("total", total),
            )
            .explain(
                "FIN_WAIT2 waits for the peer's FIN after this host closed; the peer sits in \
                 CLOSE_WAIT meanwhile. Orphaned ones (no process here) last tcp_fin_timeout; \
                 counts cannot tell which are orphans."
                    .into(),
            )
            .remedy(
                "On the host: `tcpdoctor census --state fin-wait-2 --by remote` names the peers \
                 that do not close; look for CLOSE_WAIT there."
                    .into(),
            ),
        );
    }

    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(b.id)));
    let mut notes = notes;
    notes.push(COUNTS_CANNOT_TELL.to_string());
    let summary = Summary::new(&findings, vec!["counts".into()], notes);
    Diagnosis { findings, summary }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(d: &Diagnosis) -> Vec<(&'static str, Severity)> {
        d.findings.iter().map(|f| (f.id, f.severity)).collect()
    }

    #[test]
    fn the_classic_census_gets_what_counts_allow() {
        let d = diagnose(
            &[
                (TcpState::TimeWait, 814),
                (TcpState::Established, 634),
                (TcpState::CloseWait, 1),
            ],
            &Thresholds::default(),
            Vec::new(),
        );
        assert_eq!(ids(&d), [("counts-time-wait", Severity::Info)]);
        assert!(d.findings[0].remedy.contains("--by remote"));
        assert!(d.summary.notes.iter().any(|n| n.contains("cannot tell")));
        assert_eq!(d.summary.exit_code(), 0);
    }

    #[test]
    fn counts_at_the_rules_thresholds() {
        let th = Thresholds::default();
        let d = diagnose(
            &[(TcpState::CloseWait, 1000), (TcpState::TimeWait, 20_000)],
            &th,
            Vec::new(),
        );
        assert_eq!(
            ids(&d),
            [
                ("counts-close-wait", Severity::Critical),
                ("counts-time-wait", Severity::Warning)
            ]
        );
        let d = diagnose(&[(TcpState::CloseWait, 9)], &th, Vec::new());
        assert!(d.findings.is_empty(), "a few CLOSE_WAIT are normal");
    }
}
