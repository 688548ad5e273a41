//! Many outbound TIME_WAIT toward one upstream: a client that opens a new
//! connection per request and closes first.

use super::time_wait_server_close::TIME_WAIT_INFO;
use crate::diagnose::services;
use crate::diagnose::{
    Category, Context, Evidence, Finding, Rule, RuleDoc, Severity, Threshold, TimeWaitGroup, Unit,
};
use crate::model::Needs;
use crate::model::Side;
use crate::model::{Endpoint, TcpState};
use std::collections::BTreeMap;

pub(super) static DOC: RuleDoc = RuleDoc {
    id: "time-wait-client-churn",
    category: Category::Connections,
    needs: Needs::OWNERS.and(Needs::HOST),
    diagram: Some(TcpState::TimeWait),
    trigger: "Outbound TIME_WAIT (ephemeral local port) toward one remote ip:port: this host opens \
        a connection per request and closes first. Names the process that closed them: exactly \
        where a tracer saw the close (diagnose and snapshot trace while they wait, watch for its \
        whole run; `--trace`, `tcpdoctor trace`, `serve --trace`), with how many predate the \
        trace; else the processes that now talk to that upstream as the likely owners.",
    levels: "info from --time-wait-info per upstream; warning at --time-wait-churn",
    thresholds: &[&TIME_WAIT_INFO, &TIME_WAIT_CHURN],
    remedy: "Reuse connections to the upstream (keep-alive, pools). For nginx: keepalive in the \
        upstream block, proxy_http_version 1.1 and proxy_set_header Connection \"\".",
};

static TIME_WAIT_CHURN: Threshold = Threshold {
    flag: "time-wait-churn",
    default: 1000.0,
    unit: Unit::Count,
    help: "Outbound TIME_WAIT toward one upstream for a warning.",
};

pub(super) struct TimeWaitClientChurn;

impl Rule for TimeWaitClientChurn {
    fn doc(&self) -> &'static RuleDoc {
        &DOC
    }

    fn check(&self, cx: &Context) -> Vec<Finding> {
        let mut by_remote: BTreeMap<Endpoint, TimeWaitGroup> = BTreeMap::new();
        for r in cx
            .rows_in(TcpState::TimeWait)
            .filter(|r| r.side == Some(Side::Outbound))
        {
            by_remote.entry(r.socket.remote).or_default().add(r);
        }
        let th = cx.thresholds;
        by_remote
            .into_iter()
            .filter(|(_, g)| g.count >= th.count(&TIME_WAIT_INFO))
            .map(|(remote, group)| {
                let closing = group.closing_rate();
                let (n, pids) = (group.count, &group.likely_owners);
                let (rate, window, window_text) = (closing.per_s, closing.window_s, closing.said);
                let severity = if n >= th.count(&TIME_WAIT_CHURN) {
                    Severity::Warning
                } else {
                    Severity::Info
                };
                let who: Vec<String> = pids.iter().map(|p| cx.name_of(*p)).collect();
                let proxy = group
                    .closed_by
                    .keys()
                    .map(|(_, comm)| comm.as_str())
                    .chain(
                        pids.iter()
                            .filter_map(|p| Some(cx.process(*p)?.comm.as_str())),
                    )
                    .find_map(services::proxy_upstream_advice);
                let tracing = cx.owners.close_tracing.as_ref();
                let likely = group.closers_said(|p| cx.name_of(p), cx.owners);
                let (seen_closing, before_trace) = group.traced_counts(tracing);
                let mut remedy = format!(
                    "Reuse connections to {remote} instead of opening one per request; for {}. \
                     This also keeps ephemeral ports free (see port-exhaustion).",
                    services::reuse_advice(remote.port, None)
                );
                if let Some(advice) = proxy {
                    remedy.push(' ');
                    remedy.push_str(advice);
                    remedy.push('.');
                }
                Finding::new(
                    DOC.id,
                    severity,
                    remote.to_string(),
                    format!(
                        "{n} outbound TIME_WAIT toward \
                    {remote}: a new connection per request ({likely})"
                    ),
                )
                .evidence(
                    Evidence::default()
                        .with("time_wait", n)
                        .with("remote", remote.to_string())
                        .with("likely_owners", who.join(", "))
                        .with_text("closed_by", group.closed_by_list())
                        .with("seen_closing", seen_closing)
                        .with("closed_before_trace", before_trace)
                        .with("new_connections_per_s", (rate * 10.0).round() / 10.0)
                        .with("rate_window_s", (window * 10.0).round() / 10.0)
                        // The whole host's outgoing connections per second
                        // over the measured interval (Tcp ActiveOpens).
                        .with(
                            "host_active_opens_per_s",
                            cx.tcp_rate("ActiveOpens")
                                .map(|r| (r * 10.0).round() / 10.0),
                        )
                        .with("interval_s", (cx.interval_s * 100.0).round() / 100.0),
                )
                .explain(format!(
                    "This host closed these connections to {remote} first, as a client, so \
                     each left a TIME_WAIT for 60 s on an ephemeral port: {window_text}, about \
                     {rate:.0} new connections per second. {}",
                    match seen_closing {
                        Some(seen) if seen > 0 => format!(
                            "A tracer saw {seen} of them close, so their closer is exact; \
                             the others closed before it began."
                        ),
                        _ => format!(
                            "No process owns a TIME_WAIT: the likely owners are the \
                             processes holding connections to {remote} now, a guess."
                        ),
                    }
                ))
                .remedy(remedy)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::{Host, severities, tcp};

    /// `n` TIME_WAIT from ephemeral ports toward 10.0.0.9:5432, and a live
    /// connection to it held by pid 42.
    fn churn(n: u32) -> Host {
        Host::new()
            .owned(
                tcp(TcpState::Established, "10.0.0.1:39999", "10.0.0.9:5432"),
                42,
            )
            .each(n, |i| {
                let mut s = tcp(TcpState::TimeWait, "10.0.0.1:1", "10.0.0.9:5432");
                s.local.port = 40000 + i as u16;
                s
            })
    }

    #[test]
    fn count_edges() {
        let sev = |n| severities(&churn(n).findings(&TimeWaitClientChurn));
        assert!(sev(99).is_empty());
        assert_eq!(sev(100), [Severity::Info]);
        assert_eq!(sev(999), [Severity::Info]);
        assert_eq!(sev(1000), [Severity::Warning]);
    }

    #[test]
    fn the_rate_comes_from_the_ages_and_the_remedy_from_the_service() {
        // 300 connections closed over the last 5 s: 60 per second, not 5.
        let h = Host::new().each(300, |i| {
            let mut s = tcp(TcpState::TimeWait, "10.0.0.1:1", "10.0.0.9:5432");
            s.local.port = 40000 + i as u16;
            s.timer = crate::model::Timer::TimeWait;
            s.timer_ms = 55_000 + (i % 5) * 1000;
            s
        });
        let f = h
            .tcp_counter("ActiveOpens", 1000, 1061)
            .findings(&TimeWaitClientChurn);
        assert_eq!(
            f[0].evidence.get("new_connections_per_s"),
            Some(&60.0.into())
        );
        assert_eq!(
            f[0].evidence.get("host_active_opens_per_s"),
            Some(&61.0.into()),
            "the host's own count over the measured interval"
        );
        assert_eq!(f[0].evidence.get("rate_window_s"), Some(&5.0.into()));
        assert!(f[0].remedy.contains("PostgreSQL"), "{}", f[0].remedy);
        assert!(!f[0].remedy.contains("HTTP keep-alive"), "{}", f[0].remedy);
    }

    #[test]
    fn the_likely_owner_is_labelled_as_a_guess() {
        let f = churn(100).findings(&TimeWaitClientChurn);
        assert!(f[0].title.contains("likely pid 42"), "{}", f[0].title);
    }
}
