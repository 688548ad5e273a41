//! TIME_WAIT on a listening port: this host closes first as a server.

use crate::diagnose::{
    Category, Context, Evidence, Finding, Rule, RuleDoc, Severity, Threshold, TimeWaitGroup, Unit,
};
use crate::model::Needs;
use crate::model::TcpState;
use crate::model::{Side, human_bytes};
use std::collections::BTreeMap;

pub(super) static DOC: RuleDoc = RuleDoc {
    id: "time-wait-server-close",
    category: Category::Connections,
    needs: Needs::OWNERS.and(Needs::HOST),
    diagram: Some(TcpState::TimeWait),
    trigger: "TIME_WAIT sockets whose local port is a listening port: this host closed those \
        connections first, as a server (Connection: close, HTTP/1.0, idle timeouts). Names the \
        process that closed them: exactly where a tracer saw the close (diagnose and snapshot \
        trace while they wait, watch for its whole run; `--trace`, `tcpdoctor trace`, `serve \
        --trace`), with how many predate the trace; else the listener's process as the likely \
        closer.",
    levels: "info from --time-wait-info per port; it stays info: by itself it harms nothing (see \
        tw-bucket-overflow for the limit)",
    thresholds: &[&TIME_WAIT_INFO],
    remedy: "Usually nothing: each costs ~168 bytes for 60 s. To avoid them, keep connections \
        alive or let clients close first. Lowering tcp_fin_timeout does not shorten TIME_WAIT; \
        tcp_tw_recycle is gone.",
};

pub(crate) static TIME_WAIT_INFO: Threshold = Threshold {
    flag: "time-wait-info",
    default: 100.0,
    unit: Unit::Count,
    help: "TIME_WAIT on one listening port, or toward one upstream, worth an info finding.",
};

pub(super) struct TimeWaitServerClose;

/// Bytes a TIME_WAIT socket costs the kernel (knowledge.md).
const TIME_WAIT_BYTES: f64 = 168.0;

impl Rule for TimeWaitServerClose {
    fn doc(&self) -> &'static RuleDoc {
        &DOC
    }

    fn check(&self, cx: &Context) -> Vec<Finding> {
        let mut by_port: BTreeMap<u16, TimeWaitGroup> = BTreeMap::new();
        for r in cx
            .rows_in(TcpState::TimeWait)
            .filter(|r| r.side == Some(Side::Inbound))
        {
            by_port.entry(r.socket.local.port).or_default().add(r);
        }
        let max_tw = cx.sysctl("net.ipv4.tcp_max_tw_buckets");
        by_port
            .into_iter()
            .filter(|(_, g)| g.count >= cx.thresholds.count(&TIME_WAIT_INFO))
            .map(|(port, group)| {
                let closing = group.closing_rate();
                let n = group.count;
                let who: Vec<String> = group.likely_owners.iter().map(|p| cx.name_of(*p)).collect();
                let tracing = cx.owners.close_tracing.as_ref();
                let likely = group.closers_said(|p| cx.name_of(p), cx.owners);
                let (seen_closing, before_trace) = group.traced_counts(tracing);
                Finding::new(
                    DOC.id,
                    Severity::Info,
                    format!("port {port}"),
                    format!(
                        "{n} TIME_WAIT on listening \
                    port {port}: this host closes first as a server ({likely})"
                    ),
                )
                .evidence(
                    Evidence::default()
                        .with("time_wait", n)
                        .with("listening_port", port)
                        .with("likely_owners", who.join(", "))
                        .with_text("closed_by", group.closed_by_list())
                        .with("seen_closing", seen_closing)
                        .with("closed_before_trace", before_trace)
                        .with("kernel_memory", human_bytes(n as f64 * TIME_WAIT_BYTES))
                        .with("tcp_max_tw_buckets", max_tw)
                        .with("closed_per_s", (closing.per_s * 10.0).round() / 10.0)
                        .with("rate_window_s", (closing.window_s * 10.0).round() / 10.0)
                        // Accepted connections per second over the measured
                        // interval, host-wide (Tcp PassiveOpens).
                        .with(
                            "host_passive_opens_per_s",
                            cx.tcp_rate("PassiveOpens")
                                .map(|r| (r * 10.0).round() / 10.0),
                        ),
                )
                .explain(format!(
                    "TIME_WAIT belongs to whoever closes first; here it is the server on port \
                            {port}, so every connection it closes stays 60 s in TIME_WAIT on its \
                            side ({}, about {:.0} per second). On the server side this is \
                            harmless: it uses no ephemeral port, no file descriptor and ~{} of \
                            memory in all. It only matters near tcp_max_tw_buckets.",
                    closing.said,
                    closing.per_s,
                    human_bytes(n as f64 * TIME_WAIT_BYTES)
                ))
                .remedy(
                    "Nothing is needed for the count alone. If it should go: let clients \
                        keep connections alive (HTTP/1.1 keep-alive, longer keepalive timeouts) \
                        or close first. Do not lower tcp_fin_timeout (it does not shorten \
                        TIME_WAIT) or look for tcp_tw_recycle (removed in Linux 4.12; it broke \
                        clients behind NAT); tcp_tw_reuse only helps outgoing connections."
                        .into(),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::{Host, severities, tcp};

    fn closing(n: u32) -> Host {
        Host::new()
            .owned(tcp(TcpState::Listen, "0.0.0.0:80", "0.0.0.0:0"), 7)
            .each(n, |i| {
                let mut s = tcp(TcpState::TimeWait, "10.0.0.1:80", "10.0.0.2:1");
                s.remote.port = 1000 + i as u16;
                s
            })
    }

    #[test]
    fn info_from_the_threshold_and_never_more() {
        let sev = |n| severities(&closing(n).findings(&TimeWaitServerClose));
        assert!(sev(99).is_empty());
        assert_eq!(sev(100), [Severity::Info]);
        assert_eq!(sev(5000), [Severity::Info]);
        let f = closing(100).findings(&TimeWaitServerClose);
        assert!(f[0].title.contains("likely pid 7"), "{}", f[0].title);
    }

    #[test]
    fn closers_a_tracer_saw_are_named_exactly_and_the_rest_likely() {
        let mut h = closing(100);
        for i in 0..30 {
            let mut s = tcp(TcpState::TimeWait, "10.0.0.1:80", "10.0.0.3:1");
            s.remote.port = 2000 + i;
            h = h.closed_by(s, 9, "nginx");
        }
        let f = h.findings(&TimeWaitServerClose);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].title.contains("closed by 9/nginx (30); likely pid 7"),
            "{}",
            f[0].title
        );
        assert_eq!(
            f[0].evidence.get("closed_by").and_then(|v| v.as_str()),
            Some("9/nginx (30)")
        );
        let mut only_exact = Host::new()
            .owned(tcp(TcpState::Listen, "0.0.0.0:80", "0.0.0.0:0"), 7)
            .closed_by(
                tcp(TcpState::TimeWait, "10.0.0.1:80", "10.0.0.3:1"),
                9,
                "nginx",
            );
        only_exact
            .thresholds
            .set(TIME_WAIT_INFO.flag, 1.0)
            .expect("a known flag");
        let f = only_exact.findings(&TimeWaitServerClose);
        assert!(
            f[0].title.ends_with("(closed by 9/nginx (1))"),
            "{}",
            f[0].title
        );
    }
}
