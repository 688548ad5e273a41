//! tcp_max_tw_buckets lowered below its default.

use crate::diagnose::{
    Category, Context, Evidence, Finding, Recommendation, Rule, RuleDoc, Severity,
};
use crate::model::Needs;

pub(super) static DOC: RuleDoc = RuleDoc {
    id: "sysctl-max-tw-buckets",
    category: Category::Sysctl,
    needs: Needs::HOST.and(Needs::SYSCTL_FILES),
    diagram: None,
    trigger: "net.ipv4.tcp_max_tw_buckets is below its default (half the established hash table, \
        net.ipv4.tcp_ehash_entries / 2), live or in a sysctl.conf file.",
    levels: "warning",
    thresholds: &[],
    remedy: "Restore the default: the kernel documentation says not to lower it; fewer TIME_WAIT \
        comes from reusing connections.",
};

pub(super) struct SysctlMaxTwBuckets;

const KEY: &str = "net.ipv4.tcp_max_tw_buckets";

impl Rule for SysctlMaxTwBuckets {
    fn doc(&self) -> &'static RuleDoc {
        &DOC
    }

    fn check(&self, cx: &Context) -> Vec<Finding> {
        // The default is half the established hash (tcp_sk_init); a negative
        // tcp_ehash_entries means the namespace shares the global table.
        let Some(default) = cx
            .sysctl("net.ipv4.tcp_ehash_entries")
            .map(|e| e.abs() / 2)
            .filter(|d| *d > 0)
        else {
            return Vec::new();
        };
        let explanation = "Over tcp_max_tw_buckets new TIME_WAIT sockets are destroyed at once \
            (TCPTimeWaitOverflow), which removes TIME_WAIT's protection against late duplicates. \
            Lowering it to \"reduce TIME_WAIT\" trades a harmless count for that risk; the kernel \
            documentation says it must not be lowered artificially."
            .to_string();
        let mut out = Vec::new();
        for s in cx
            .files
            .iter()
            .filter(|s| s.key == KEY && s.value.trim().parse::<i64>().is_ok_and(|v| v < default))
        {
            out.push(
                Finding::new(
                    DOC.id,
                    Severity::Warning,
                    s.location(),
                    format!(
                        "{} lowers {KEY} to {} (default here {default})",
                        s.location(),
                        s.value
                    ),
                )
                .evidence(
                    Evidence::default()
                        .with("file", s.file.display().to_string())
                        .with("line", s.line)
                        .with("value", s.value.clone())
                        .with("default", default),
                )
                .explain(explanation.clone())
                .remedy(format!("Delete line {} of {}.", s.line, s.file.display()))
                .with_recommend(Recommendation {
                    key: KEY.into(),
                    value: Some(default.to_string()),
                    location: Some(s.location()),
                }),
            );
        }
        if let Some(v) = cx.sysctl(KEY).filter(|v| *v < default) {
            out.push(
                Finding::new(
                    DOC.id,
                    Severity::Warning,
                    KEY.into(),
                    format!("{KEY} = {v}, below its default {default}"),
                )
                .evidence(Evidence::default().with(KEY, v).with("default", default))
                .explain(explanation)
                .remedy(format!(
                    "sysctl -w {KEY}={default}, and remove the setting that lowered it."
                ))
                .with_recommend(Recommendation {
                    key: KEY.into(),
                    value: Some(default.to_string()),
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

    fn host() -> Host {
        Host::new().sysctl("net.ipv4.tcp_ehash_entries", "262144")
    }

    #[test]
    fn below_half_the_hash_is_a_warning_live_or_in_a_file() {
        assert!(
            host()
                .sysctl(KEY, "131072")
                .findings(&SysctlMaxTwBuckets)
                .is_empty()
        );
        let live = host().sysctl(KEY, "131071").findings(&SysctlMaxTwBuckets);
        assert_eq!(severities(&live), [Severity::Warning]);
        let file = host()
            .sysctl(KEY, "131072")
            .setting(2, KEY, "5000")
            .findings(&SysctlMaxTwBuckets);
        assert_eq!(severities(&file), [Severity::Warning]);
        assert!(
            Host::new()
                .sysctl(KEY, "10")
                .findings(&SysctlMaxTwBuckets)
                .is_empty(),
            "no hash size, no default to compare with"
        );
    }
}
