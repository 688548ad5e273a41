//! docs/rules.md lists every rule as the registry describes it.

use std::path::Path;

#[test]
fn docs_rules_md_is_in_step_with_the_registry() {
    // A golden file: stale unless it is exactly what the registry
    // generates; TCPDOCTOR_BLESS=1 regenerates it.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/rules.md");
    let have = tcpdoctor_core::diagnose::rules_markdown();
    tcpdoctor_testkit::golden(&path, &have);
    for r in tcpdoctor_core::diagnose::rules::ALL {
        assert!(have.contains(&format!("## {}\n", r.doc().id)));
    }
}

#[test]
fn rule_ids_are_unique_and_kebab_case() {
    let mut ids: Vec<&str> = tcpdoctor_core::diagnose::rules::ALL
        .iter()
        .map(|r| r.doc().id)
        .collect();
    assert!(ids.iter().all(|id| {
        id.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    }));
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate rule id");
}

/// A rule's severity prose names its thresholds by flag and quotes no
/// number itself: the numbers come from the declarations, so docs, --help
/// and explain cannot drift from what the rule does.
#[test]
fn severity_prose_names_exactly_the_declared_thresholds_and_no_numbers() {
    for r in tcpdoctor_core::diagnose::rules::ALL {
        let d = r.doc();
        let mentioned: Vec<&str> = d
            .levels
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter_map(|w| w.strip_prefix("--"))
            .collect();
        for flag in &mentioned {
            assert!(
                d.thresholds.iter().any(|t| t.flag == *flag),
                "{}: --{flag} is named but not declared",
                d.id
            );
        }
        for t in d.thresholds {
            assert!(
                mentioned.contains(&t.flag),
                "{}: --{} is declared but the severity text never names it",
                d.id,
                t.flag
            );
        }
        let without_flags: String = d
            .levels
            .split_whitespace()
            .filter(|w| !w.starts_with("--"))
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            !without_flags
                .replace("4.12+", "")
                .replace("(28,232)", "")
                .chars()
                .any(|c| c.is_ascii_digit()),
            "{}: the severity text quotes a number: {}",
            d.id,
            d.levels
        );
    }
}
