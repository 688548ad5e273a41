//! tcp_tw_recycle: broke clients behind NAT; removed in Linux 4.12.

use crate::diagnose::{
    Category, Context, Evidence, Finding, Recommendation, Rule, RuleDoc, Severity,
};
use crate::model::Needs;

pub(super) static DOC: RuleDoc = RuleDoc {
    id: "sysctl-tw-recycle",
    category: Category::Sysctl,
    needs: Needs::HOST.and(Needs::SYSCTL_FILES),
    diagram: None,
    trigger: "net.ipv4.tcp_tw_recycle is enabled on a kernel that still has it (before 4.12), or \
        set in a sysctl.conf file (on 4.12 and later the line fails: the setting is gone).",
    levels: "critical when enabled on a kernel that has it; warning for a leftover line on 4.12+",
    thresholds: &[],
    remedy: "Delete the line. Reuse connections, or tcp_tw_reuse=1 on clients, instead.",
};

pub(super) struct SysctlTwRecycle;

const KEY: &str = "net.ipv4.tcp_tw_recycle";

fn explanation() -> String {
    "tcp_tw_recycle dropped SYNs whose TCP timestamp was older than the last one seen from the \
        same IP. Behind NAT many clients share an IP and their clocks differ, so their \
        connections failed at random; since Linux 4.10 randomised timestamp offsets broke it for \
        everyone, and Linux 4.12 removed it. Advice to enable it \"to reduce TIME_WAIT\" is \
        wrong."
        .into()
}

impl Rule for SysctlTwRecycle {
    fn doc(&self) -> &'static RuleDoc {
        &DOC
    }

    fn check(&self, cx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        let removed = cx.host.kernel_version().is_none_or(|v| v >= (4, 12));
        if let Some(v) = cx.sysctl(KEY).filter(|v| *v != 0) {
            out.push(
                Finding::new(
                    DOC.id,
                    Severity::Critical,
                    KEY.into(),
                    format!(
                        "{KEY} = {v} is on: clients \
                    behind NAT fail to connect at random"
                    ),
                )
                .evidence(
                    Evidence::default()
                        .with(KEY, v)
                        .with("kernel", cx.host.kernel_release.clone()),
                )
                .explain(explanation())
                .remedy(format!(
                    "sysctl -w {KEY}=0 now, and delete it from the sysctl files. \
                        Reuse connections; tcp_tw_reuse=1 on clients if needed."
                ))
                .with_recommend(Recommendation {
                    key: KEY.into(),
                    value: Some("0".into()),
                    location: None,
                }),
            );
        }
        for s in cx.files.iter().filter(|s| s.key == KEY) {
            let on = s.value.trim() != "0";
            let (severity, title) = if removed {
                (
                    Severity::Warning,
                    format!(
                        "{} sets {KEY}, which Linux removed in 4.12: the line fails at boot",
                        s.location()
                    ),
                )
            } else if on {
                (
                    Severity::Critical,
                    format!(
                        "{} enables {KEY}: clients behind NAT fail to connect",
                        s.location()
                    ),
                )
            } else {
                continue;
            };
            out.push(
                Finding::new(DOC.id, severity, s.location(), title)
                    .evidence(
                        Evidence::default()
                            .with("file", s.file.display().to_string())
                            .with("line", s.line)
                            .with("value", s.value.clone())
                            .with("kernel", cx.host.kernel_release.clone()),
                    )
                    .explain(explanation())
                    .remedy(format!("Delete line {} of {}.", s.line, s.file.display()))
                    .with_recommend(Recommendation {
                        key: KEY.into(),
                        value: None,
                        location: Some(s.location()),
                    }),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::{Host, severities};

    #[test]
    fn on_where_it_exists_is_critical_a_leftover_line_warns() {
        let old = || Host::new().kernel("4.4.0-210-generic");
        let live = old().sysctl(KEY, "1").findings(&SysctlTwRecycle);
        assert_eq!(severities(&live), [Severity::Critical]);
        let file_on = old().setting(3, KEY, "1").findings(&SysctlTwRecycle);
        assert_eq!(severities(&file_on), [Severity::Critical]);
        assert!(
            old()
                .setting(3, KEY, "0")
                .findings(&SysctlTwRecycle)
                .is_empty()
        );
        let leftover = Host::new()
            .kernel("6.18.0")
            .setting(3, KEY, "0")
            .findings(&SysctlTwRecycle);
        assert_eq!(severities(&leftover), [Severity::Warning]);
        assert_eq!(
            leftover[0]
                .recommend
                .as_ref()
                .and_then(|r| r.location.clone()),
            Some("/etc/sysctl.d/99-test.conf:3".into())
        );
    }
}
