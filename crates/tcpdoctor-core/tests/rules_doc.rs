//! docs/rules.md lists every rule as the registry describes it.

use std::path::Path;

#[test]
fn docs_rules_md_is_in_step_with_the_registry() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/rules.md");
    let want = tcpdoctor_core::diagnose::rules_markdown();
    if std::env::var_os("TCPDOCTOR_BLESS").is_some() {
        std::fs::write(&path, &want).expect("write docs/rules.md");
    }
    let have = std::fs::read_to_string(&path).expect("docs/rules.md (TCPDOCTOR_BLESS=1 writes it)");
    assert_eq!(
        have, want,
        "docs/rules.md is stale: regenerate with TCPDOCTOR_BLESS=1"
    );
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

#[test]
fn thresholds_quoted_in_the_docs_are_the_flag_defaults() {
    let t = tcpdoctor_core::diagnose::Thresholds::default();
    let defaults: &[(&str, f64)] = &[
        ("--close-wait-count", t.close_wait_count as f64),
        ("--close-wait-age", t.close_wait_age_s),
        ("--fd-warn", t.fd_warn * 100.0),
        ("--fd-crit", t.fd_crit * 100.0),
        ("--port-warn", t.port_warn * 100.0),
        ("--port-crit", t.port_crit * 100.0),
        ("--time-wait-churn", t.time_wait_churn as f64),
        ("--time-wait-info", t.time_wait_info as f64),
        ("--fin-wait2-count", t.fin_wait2_count as f64),
        ("--orphan-warn", t.orphan_warn * 100.0),
        ("--syn-backlog-warn", t.syn_backlog_warn * 100.0),
        ("--tw-bucket-warn", t.tw_bucket_warn * 100.0),
    ];
    let text = tcpdoctor_core::diagnose::rules_markdown();
    for (flag, value) in defaults {
        let at = text
            .find(&format!("{flag} "))
            .unwrap_or_else(|| panic!("{flag} is not documented"));
        let quoted: String = text[at + flag.len() + 1..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let quoted: f64 = quoted
            .parse()
            .unwrap_or_else(|_| panic!("{flag} has no number after it"));
        assert!(
            (quoted - value).abs() < 1e-9,
            "{flag}: docs say {quoted}, the default is {value}"
        );
    }
}
