//! The files in deploy/: alert rules pass promtool's checks and unit tests,
//! and every metric the rules and the dashboard use is one the exporter
//! writes; the systemd unit and the DaemonSet run flags `serve` accepts.

use crate::support::bin;
use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(deploy(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The metric families `tcpdoctor serve` writes.
fn exported() -> Vec<String> {
    use tcpdoctor_core::render::prometheus::{FullMetrics, render};
    render(&[], &FullMetrics::default(), &[])
        .lines()
        .filter_map(|l| {
            l.strip_prefix("# TYPE ")?
                .split(' ')
                .next()
                .map(String::from)
        })
        .collect()
}

fn metric_names(text: &str) -> Vec<String> {
    let mut v = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("tcpdoctor_") {
        let start = i + at;
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_lowercase() || b[end] == b'_') {
            end += 1;
        }
        v.push(text[start..end].to_string());
        i = end;
    }
    v
}

#[test]
fn alert_rules_pass_promtool_checks_and_unit_tests() {
    let Ok(out) = Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(deploy("prometheus/alerts.yml"))
        .output()
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have promtool (test.sh installs prometheus)"
        );
        eprintln!("skipped: promtool is not installed");
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("promtool")
        .arg("test")
        .arg("rules")
        .arg(deploy("prometheus/alerts_test.yml"))
        .output()
        .expect("promtool");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rules_and_dashboard_use_only_exported_metrics() {
    let families = exported();
    assert!(families.len() > 10, "{families:?}");
    for file in ["prometheus/alerts.yml", "grafana/tcpdoctor.json"] {
        let names = metric_names(&read(file));
        assert!(!names.is_empty(), "{file} uses no tcpdoctor metric");
        for n in names {
            assert!(
                families.contains(&n),
                "{file} uses {n}, which tcpdoctor serve does not export"
            );
        }
    }
    let dash: serde_json::Value =
        serde_json::from_str(&read("grafana/tcpdoctor.json")).expect("the dashboard is JSON");
    assert!(dash["panels"].as_array().is_some_and(|p| p.len() >= 6));
}

#[test]
fn the_unit_and_the_daemonset_run_flags_serve_accepts() {
    let help = bin().args(["serve", "--help"]).output().expect("runs");
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let unit = read("systemd/tcpdoctor.service");
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    let ds = read("kubernetes/daemonset.yaml");
    for flag in exec.split_whitespace().filter(|w| w.starts_with("--")) {
        assert!(help.contains(flag), "unit flag {flag} is not a serve flag");
        assert!(
            ds.contains(&format!("\"{flag}\"")),
            "the DaemonSet should pass {flag} too"
        );
    }
    for needed in ["hostPID: true", "hostNetwork: true", "\"all\"", "/healthz"] {
        assert!(ds.contains(needed), "DaemonSet lacks {needed}");
    }
}
