//! Accept queues that are full, and ListenOverflows / ListenDrops rising.

use crate::diagnose::{Category, Context, Evidence, Finding, Rule, RuleDoc, Severity};
use crate::model::Needs;
use crate::model::TcpState;

pub(super) static DOC: RuleDoc = RuleDoc {
    id: "accept-queue-overflow",
    category: Category::Limits,
    needs: Needs::OWNERS.and(Needs::COUNTER_RATES),
    diagram: Some(TcpState::Listen),
    trigger: "A LISTEN socket whose accept queue (Recv-Q) is at its backlog (Send-Q), naming the \
        listener's process; or TcpExt ListenOverflows / ListenDrops grew during the interval.",
    levels: "warning for a full queue or growing counters; info when the counters grew only before \
        (since boot)",
    thresholds: &[],
    remedy: "Make the application accept() faster (more workers, no blocking in the accept loop); \
        raise the listen() backlog together with net.core.somaxconn.",
};

pub(super) struct AcceptQueueOverflow;

impl Rule for AcceptQueueOverflow {
    fn doc(&self) -> &'static RuleDoc {
        &DOC
    }

    fn check(&self, cx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        let somaxconn = cx.sysctl("net.core.somaxconn");
        let overflows = cx.delta("ListenOverflows");
        let drops = cx.delta("ListenDrops");
        // Without the backlog (/proc/net/tcp, netstat) a queue cannot be
        // called full: only the counters speak then.
        let listeners = cx
            .rows_in(TcpState::Listen)
            .filter(|_| cx.listen_backlog_known);
        for r in listeners {
            let s = &r.socket;
            if s.recv_q == 0 || s.recv_q < s.send_q {
                continue;
            }
            let who = r.owners.first().map_or(
                if cx.owners.absent.is_some() {
                    "its process (not named in this dump)".to_string()
                } else {
                    "an unknown process".to_string()
                },
                |o| cx.name_of(o.pid),
            );
            out.push(
                Finding::new(
                    DOC.id,
                    Severity::Warning,
                    s.local.to_string(),
                    format!(
                        "the accept queue of {} is full \
                    ({} waiting, backlog {}): {who} does not accept() fast enough",
                        s.local, s.recv_q, s.send_q
                    ),
                )
                .evidence(
                    Evidence::default()
                        .with("listener", s.local.to_string())
                        .with("queued", s.recv_q)
                        .with("backlog", s.send_q)
                        .with("somaxconn", somaxconn)
                        .with("listen_overflows_in_interval", overflows)
                        .with("listen_drops_in_interval", drops),
                )
                .explain(format!(
                    "The kernel completed {} handshakes that {who} has not \
                        accept()ed yet, and the queue holds no more: new connections are dropped \
                        (ListenOverflows) and clients retry their SYN after 1, 3, 7 s... The \
                        listen() backlog is capped by net.core.somaxconn.",
                    s.recv_q
                ))
                .remedy(format!(
                    "Look at {who}'s accept loop: too few workers, or blocked on \
                        something else. If the load is real, raise the backlog passed to listen() \
                        and net.core.somaxconn (now {}).",
                    somaxconn.map_or("unknown".into(), |v| v.to_string())
                )),
            );
        }
        if out.is_empty() && (overflows > 0 || drops > 0 || cx.counter("ListenOverflows") > 0) {
            let severity = if overflows > 0 || drops > 0 {
                Severity::Warning
            } else {
                Severity::Info
            };
            out.push(
                Finding::new(
                    DOC.id,
                    severity,
                    "TcpExt ListenOverflows".into(),
                    format!(
                        "ListenOverflows +{overflows}, \
                    ListenDrops +{drops} in {:.0} s ({} overflows since boot)",
                        cx.interval_s,
                        cx.counter("ListenOverflows")
                    ),
                )
                .evidence(
                    Evidence::default()
                        .with("listen_overflows_in_interval", overflows)
                        .with("listen_drops_in_interval", drops)
                        .with("listen_overflows_total", cx.counter("ListenOverflows"))
                        .with("somaxconn", somaxconn),
                )
                .explain(
                    "Some listener's accept queue was full when a handshake completed, so \
                        the connection was dropped; the queue has room now (the burst passed)."
                        .into(),
                )
                .remedy(
                    "Watch Recv-Q of the listeners (tcpdoctor sockets --state listen) \
                        during the bursts; then speed up accept() or raise the backlog and \
                        net.core.somaxconn."
                        .into(),
                ),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::{Host, severities, tcp};

    fn listener(queued: u32, backlog: u32) -> Host {
        let mut s = tcp(TcpState::Listen, "0.0.0.0:8080", "0.0.0.0:0");
        s.recv_q = queued;
        s.send_q = backlog;
        Host::new().owned(s, 9)
    }

    #[test]
    fn a_full_queue_warns_and_names_the_listener_process() {
        assert!(listener(7, 8).findings(&AcceptQueueOverflow).is_empty());
        let f = listener(8, 8).findings(&AcceptQueueOverflow);
        assert_eq!(severities(&f), [Severity::Warning]);
        assert!(f[0].title.contains("pid 9"), "{}", f[0].title);
    }

    /// /proc/net/tcp has no backlog (it reads 0): "1 waiting, backlog 0"
    /// is no full queue.
    #[test]
    fn without_the_backlog_no_queue_is_called_full() {
        let f = listener(1, 0)
            .read_from_proc()
            .findings(&AcceptQueueOverflow);
        assert!(f.is_empty(), "{f:#?}");
        let f = listener(1, 0)
            .read_from_proc()
            .counter("ListenOverflows", 1, 3)
            .findings(&AcceptQueueOverflow);
        assert_eq!(
            severities(&f),
            [Severity::Warning],
            "the counters still speak"
        );
    }

    #[test]
    fn counters_growing_warn_counters_from_before_inform() {
        let growing = listener(0, 8).counter("ListenOverflows", 10, 12);
        assert_eq!(
            severities(&growing.findings(&AcceptQueueOverflow)),
            [Severity::Warning]
        );
        let before = listener(0, 8).counter("ListenOverflows", 12, 12);
        assert_eq!(
            severities(&before.findings(&AcceptQueueOverflow)),
            [Severity::Info]
        );
    }
}
