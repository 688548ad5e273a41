//! The cached diagnosis's findings, one series each, for alerting on.

use super::{Collector, Input, Writer};

/// `tcpdoctor_finding`: 1 per current finding (none before the first full
/// refresh).
pub(super) struct Findings;

impl Collector for Findings {
    fn collect(&self, input: &Input<'_>, out: &mut Writer<'_>) {
        let mut f = out.gauge("tcpdoctor_finding", "Current diagnose findings (1 each).");
        let Some(d) = &input.full.diagnosis else {
            return;
        };
        for x in &d.findings {
            f.sample(
                &[
                    ("id", x.id),
                    ("severity", x.severity.name()),
                    ("subject", &x.subject),
                    ("netns", x.netns.as_deref().unwrap_or("")),
                ],
                1.0,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::FullMetrics;
    use super::super::tests::{input_of, written};
    use super::*;
    use crate::diagnose::{Diagnosis, Finding, Severity, Summary};

    #[test]
    fn each_finding_is_one_series_labelled_by_id_severity_subject_and_netns() {
        let finding = |netns: Option<&str>| Finding {
            netns: netns.map(String::from),
            ..Finding::new(
                "close-wait-leak",
                Severity::Critical,
                "pid 3 (a\"b)".into(),
                String::new(),
            )
        };
        let findings = vec![finding(None), finding(Some("web"))];
        let full = FullMetrics {
            diagnosis: Some(Diagnosis {
                findings,
                summary: Summary::default(),
            }),
            ..FullMetrics::default()
        };
        let text = written(&Findings, &input_of(&full));
        let series = "tcpdoctor_finding{id=\"close-wait-leak\",severity=\"critical\",\
                      subject=\"pid 3 (a\\\"b)\",netns=";
        assert!(text.contains(&format!("{series}\"\"}} 1\n")), "{text}");
        assert!(text.contains(&format!("{series}\"web\"}} 1\n")), "{text}");
        let none = written(&Findings, &input_of(&FullMetrics::default()));
        assert_eq!(none.lines().count(), 2, "HELP and TYPE only");
    }
}
