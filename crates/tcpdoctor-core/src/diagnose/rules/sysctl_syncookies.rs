//! SYN cookies off.

use crate::diagnose::{
    Category, Context, Evidence, Finding, Recommendation, Rule, RuleDoc, Severity,
};
use crate::model::Needs;

pub(super) static DOC: RuleDoc = RuleDoc {
    id: "sysctl-syncookies",
    category: Category::Sysctl,
    needs: Needs::HOST,
    diagram: None,
    trigger: "net.ipv4.tcp_syncookies=0: a full SYN queue drops new connections instead of \
        answering with syncookies.",
    levels: "warning",
    thresholds: &[],
    remedy: "Set net.ipv4.tcp_syncookies=1 (the default).",
};

pub(super) struct SysctlSyncookies;

impl Rule for SysctlSyncookies {
    fn doc(&self) -> &'static RuleDoc {
        &DOC
    }

    fn check(&self, cx: &Context) -> Vec<Finding> {
        if cx.sysctl("net.ipv4.tcp_syncookies") != Some(0) {
            return Vec::new();
        }
        vec![
            Finding::new(
                DOC.id,
                Severity::Warning,
                "net.ipv4.tcp_syncookies".into(),
                "tcp_syncookies=0: a SYN flood \
                or a burst fills the SYN queue and new connections are dropped"
                    .into(),
            )
            .evidence(Evidence::default().with("tcp_syncookies", 0).with(
                "tcp_max_syn_backlog",
                cx.sysctl("net.ipv4.tcp_max_syn_backlog"),
            ))
            .explain(
                "With syncookies the kernel answers SYNs statelessly once the SYN queue \
                    (tcp_max_syn_backlog) is full, so legitimate clients still connect during a \
                    SYN flood or a burst; without them those SYNs are dropped."
                    .into(),
            )
            .remedy("sysctl -w net.ipv4.tcp_syncookies=1 and keep it in /etc/sysctl.d/.".into())
            .with_recommend(Recommendation {
                key: "net.ipv4.tcp_syncookies".into(),
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
    fn only_zero_warns() {
        let k = "net.ipv4.tcp_syncookies";
        let f = Host::new().sysctl(k, "0").findings(&SysctlSyncookies);
        assert_eq!(severities(&f), [Severity::Warning]);
        assert!(
            Host::new()
                .sysctl(k, "1")
                .findings(&SysctlSyncookies)
                .is_empty()
        );
        assert!(Host::new().findings(&SysctlSyncookies).is_empty());
    }
}
