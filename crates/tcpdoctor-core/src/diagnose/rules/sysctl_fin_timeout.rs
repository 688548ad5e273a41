//! tcp_fin_timeout lowered "to reduce TIME_WAIT": it does not.

use crate::diagnose::{
    Category, Context, Evidence, Finding, Recommendation, Rule, RuleDoc, Severity,
};
use crate::model::Needs;

pub(super) static DOC: RuleDoc = RuleDoc {
    id: "sysctl-fin-timeout",
    category: Category::Sysctl,
    needs: Needs::HOST.and(Needs::SYSCTL_FILES),
    diagram: None,
    trigger: "net.ipv4.tcp_fin_timeout is below its default of 60 s, live or in a sysctl.conf \
        file: the usual advice to cut TIME_WAIT or CLOSE_WAIT, which it affects neither.",
    levels: "warning when a file lowers it; info when only the live value is lower",
    thresholds: &[],
    remedy: "Restore 60 (or leave it): it bounds only orphaned FIN_WAIT2. TIME_WAIT is a fixed 60 \
        s; CLOSE_WAIT ends only with close().",
};

pub(super) struct SysctlFinTimeout;

const KEY: &str = "net.ipv4.tcp_fin_timeout";
const DEFAULT: i64 = 60;

fn explanation(v: i64) -> String {
    format!(
        "tcp_fin_timeout ({v} s here) is how long an orphaned FIN_WAIT2 socket waits for the \
            peer's FIN. It does not change TIME_WAIT, which lasts a fixed 60 s on Linux \
            (TCP_TIMEWAIT_LEN), and it cannot end CLOSE_WAIT, which only the owning process's \
            close() does. Lowering it is harmless but does not fix what it is usually lowered \
            for."
    )
}

impl Rule for SysctlFinTimeout {
    fn doc(&self) -> &'static RuleDoc {
        &DOC
    }

    fn check(&self, cx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        let in_files: Vec<_> = cx
            .files
            .iter()
            .filter(|s| s.key == KEY && s.value.trim().parse::<i64>().is_ok_and(|v| v < DEFAULT))
            .collect();
        for s in &in_files {
            let v = s.value.trim().parse::<i64>().unwrap_or(DEFAULT);
            out.push(
                Finding::new(
                    DOC.id,
                    Severity::Warning,
                    s.location(),
                    format!(
                        "{} lowers {KEY} to {v}: it \
                    does not shorten TIME_WAIT or CLOSE_WAIT",
                        s.location()
                    ),
                )
                .evidence(
                    Evidence::default()
                        .with("file", s.file.display().to_string())
                        .with("line", s.line)
                        .with("value", v)
                        .with("default", DEFAULT),
                )
                .explain(explanation(v))
                .remedy(format!(
                    "Delete line {} of {} (or set {DEFAULT}). For TIME_WAIT see \
                        time-wait-*; for CLOSE_WAIT, close-wait-leak.",
                    s.line,
                    s.file.display()
                ))
                .with_recommend(Recommendation {
                    key: KEY.into(),
                    value: Some(DEFAULT.to_string()),
                    location: Some(s.location()),
                }),
            );
        }
        if in_files.is_empty()
            && let Some(v) = cx.sysctl(KEY).filter(|v| *v < DEFAULT)
        {
            out.push(
                Finding::new(
                    DOC.id,
                    Severity::Info,
                    KEY.into(),
                    format!(
                        "{KEY} = {v} (default \
                    {DEFAULT}): it does not shorten TIME_WAIT or CLOSE_WAIT"
                    ),
                )
                .evidence(Evidence::default().with(KEY, v).with("default", DEFAULT))
                .explain(explanation(v))
                .remedy(format!(
                    "Nothing urgent; set it back to {DEFAULT} if it was lowered \
                        for TIME_WAIT or CLOSE_WAIT."
                ))
                .with_recommend(Recommendation {
                    key: KEY.into(),
                    value: Some(DEFAULT.to_string()),
                    location: None,
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
    fn a_file_that_lowers_it_warns_a_live_value_informs() {
        let file = Host::new()
            .sysctl(KEY, "30")
            .setting(4, KEY, "30")
            .findings(&SysctlFinTimeout);
        assert_eq!(severities(&file), [Severity::Warning]);
        assert_eq!(file[0].subject, "/etc/sysctl.d/99-test.conf:4");
        let live = Host::new().sysctl(KEY, "30").findings(&SysctlFinTimeout);
        assert_eq!(severities(&live), [Severity::Info]);
        assert!(
            Host::new()
                .sysctl(KEY, "60")
                .findings(&SysctlFinTimeout)
                .is_empty()
        );
        assert!(
            Host::new()
                .setting(1, KEY, "60")
                .findings(&SysctlFinTimeout)
                .is_empty()
        );
    }

    #[test]
    fn files_are_audited_only_with_the_hosts_own_namespace() {
        let f = Host::new()
            .setting(4, KEY, "10")
            .child_namespace()
            .findings(&SysctlFinTimeout);
        assert!(f.is_empty());
    }
}
