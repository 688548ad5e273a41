//! tcp_tw_reuse with tcp_timestamps off: reuse never happens.

use crate::diagnose::{
    Category, Context, Evidence, Finding, Recommendation, Rule, RuleDoc, Severity,
};
use crate::model::Needs;

pub(super) static DOC: RuleDoc = RuleDoc {
    id: "sysctl-tw-reuse-no-timestamps",
    category: Category::Sysctl,
    needs: Needs::HOST,
    diagram: None,
    trigger: "net.ipv4.tcp_tw_reuse is on (1, or 2 for loopback) but net.ipv4.tcp_timestamps=0: \
        reuse needs timestamps, so it never happens.",
    levels: "warning",
    thresholds: &[],
    remedy: "Set net.ipv4.tcp_timestamps=1 (the default), or drop tcp_tw_reuse.",
};

pub(super) struct SysctlTwReuseNoTimestamps;

impl Rule for SysctlTwReuseNoTimestamps {
    fn doc(&self) -> &'static RuleDoc {
        &DOC
    }

    fn check(&self, cx: &Context) -> Vec<Finding> {
        let reuse = cx.sysctl("net.ipv4.tcp_tw_reuse").unwrap_or(0);
        if reuse == 0 || cx.sysctl("net.ipv4.tcp_timestamps") != Some(0) {
            return Vec::new();
        }
        vec![
            Finding::new(
                DOC.id,
                Severity::Warning,
                "net.ipv4.tcp_timestamps".into(),
                format!(
                    "tcp_tw_reuse={reuse} but \
                tcp_timestamps=0: TIME_WAIT ports are never reused"
                ),
            )
            .evidence(
                Evidence::default()
                    .with("tcp_tw_reuse", reuse)
                    .with("tcp_timestamps", 0),
            )
            .explain(
                "Reusing a TIME_WAIT port is safe only because TCP timestamps tell old \
                    segments from new ones; without timestamps the kernel never reuses, so \
                    tcp_tw_reuse has no effect."
                    .into(),
            )
            .remedy("sysctl -w net.ipv4.tcp_timestamps=1 and keep it in /etc/sysctl.d/.".into())
            .with_recommend(Recommendation {
                key: "net.ipv4.tcp_timestamps".into(),
                value: Some("1".into()),
                location: None,
            }),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::{Host, severities};

    #[test]
    fn reuse_without_timestamps_warns() {
        let h = |reuse, ts| {
            Host::new()
                .sysctl("net.ipv4.tcp_tw_reuse", reuse)
                .sysctl("net.ipv4.tcp_timestamps", ts)
                .findings(&SysctlTwReuseNoTimestamps)
        };
        assert_eq!(severities(&h("1", "0")), [Severity::Warning]);
        assert_eq!(severities(&h("2", "0")), [Severity::Warning]);
        assert!(h("1", "1").is_empty());
        assert!(h("0", "0").is_empty());
    }
}
