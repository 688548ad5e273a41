//! TIME_WAIT at tcp_max_tw_buckets: new ones are destroyed at once.

use crate::diagnose::{
    Category, Context, Evidence, Finding, Rule, RuleDoc, Severity, Threshold, Unit,
};
use crate::model::Needs;
use crate::model::TcpState;

pub(super) static DOC: RuleDoc = RuleDoc {
    id: "tw-bucket-overflow",
    category: Category::Limits,
    needs: Needs::COUNTER_RATES,
    diagram: Some(TcpState::TimeWait),
    trigger: "TcpExt TCPTimeWaitOverflow grew during the interval, or the timewait sockets \
        (sockstat tw) reach tcp_max_tw_buckets: new TIME_WAIT sockets are destroyed at once \
        (\"TCP: time wait bucket table overflow\").",
    levels: "warning when the counter grows or tw reaches --tw-bucket-warn of tcp_max_tw_buckets; \
        info when it grew only before (since boot)",
    thresholds: &[&TW_BUCKET_WARN],
    remedy: "Reduce the churn (reuse connections); restore tcp_max_tw_buckets to its default if it \
        was lowered. Never lower it to cut TIME_WAIT.",
};

static TW_BUCKET_WARN: Threshold = Threshold {
    flag: "tw-bucket-warn",
    default: 0.90,
    unit: Unit::Ratio,
    help: "Share of tcp_max_tw_buckets in TIME_WAIT for a warning.",
};

pub(super) struct TwBucketOverflow;

impl Rule for TwBucketOverflow {
    fn doc(&self) -> &'static RuleDoc {
        &DOC
    }

    fn check(&self, cx: &Context) -> Vec<Finding> {
        let max = cx.sysctl("net.ipv4.tcp_max_tw_buckets").unwrap_or(0);
        let tw = cx.host.sockstat.map_or(0, |s| s.tw as i64);
        let delta = cx.delta("TCPTimeWaitOverflow");
        let total = cx.counter("TCPTimeWaitOverflow");
        let near = max > 0 && tw as f64 >= cx.thresholds.get(&TW_BUCKET_WARN) * max as f64;
        let severity = if delta > 0 || near {
            Severity::Warning
        } else if total > 0 {
            Severity::Info
        } else {
            return Vec::new();
        };
        vec![
            Finding::new(
                DOC.id,
                severity,
                "net.ipv4.tcp_max_tw_buckets".into(),
                format!(
                    "{tw} timewait sockets against \
                tcp_max_tw_buckets {max}; TCPTimeWaitOverflow +{delta} in {:.0} s ({total} in \
                all)",
                    cx.interval_s
                ),
            )
            .evidence(
                Evidence::default()
                    .with("timewait_sockets", tw)
                    .with("tcp_max_tw_buckets", max)
                    .with("overflow_in_interval", delta)
                    .with("overflow_total", total)
                    .with("interval_s", cx.interval_s),
            )
            .explain(
                "Over tcp_max_tw_buckets the kernel does not keep a TIME_WAIT socket at \
                    all: it destroys it, counts TCPTimeWaitOverflow and logs \"TCP: time wait \
                    bucket table overflow\". The protection TIME_WAIT gives (late duplicates of \
                    the old connection, a lost final ACK) is gone for those connections. The \
                    kernel documentation says not to lower this limit artificially."
                    .into(),
            )
            .remedy(
                "Find the churn (tcpdoctor census --state time-wait --by remote; \
                    time-wait-client-churn) and reuse connections. If tcp_max_tw_buckets was \
                    lowered (see sysctl-max-tw-buckets), restore it."
                    .into(),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::{Host, severities};
    use crate::model::Sockstat;

    fn tw(n: u64) -> Host {
        Host::new()
            .sysctl("net.ipv4.tcp_max_tw_buckets", "1000")
            .sockstat(Sockstat {
                tw: n,
                ..Sockstat::default()
            })
    }

    #[test]
    fn share_and_counter_edges() {
        assert!(tw(899).findings(&TwBucketOverflow).is_empty());
        assert_eq!(
            severities(&tw(900).findings(&TwBucketOverflow)),
            [Severity::Warning]
        );
        let growing = tw(0).counter("TCPTimeWaitOverflow", 5, 6);
        assert_eq!(
            severities(&growing.findings(&TwBucketOverflow)),
            [Severity::Warning]
        );
        let before = tw(0).counter("TCPTimeWaitOverflow", 6, 6);
        assert_eq!(
            severities(&before.findings(&TwBucketOverflow)),
            [Severity::Info]
        );
    }
}
