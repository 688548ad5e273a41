//! The rules' declarations as documents: `tcpdoctor explain RULE` and
//! docs/rules.md are generated from them (tests/it/rules_doc.rs checks the
//! committed copy), so the docs say what the code does.

use super::{RuleDoc, rules, services};
use crate::model::Needs;

/// The thresholds of a rule as lines: "`--flag N` (default 100): help",
/// the flag quoted with `quote`.
fn threshold_lines(d: &RuleDoc, quote: &str) -> Vec<String> {
    d.thresholds
        .iter()
        .map(|t| {
            format!(
                "{quote}--{} {}{quote} (default {}): {}",
                t.flag,
                t.unit.value_name(),
                t.unit.show(t.default),
                t.help
            )
        })
        .collect()
}

/// What a rule reads, in words.
fn needs_words(n: Needs) -> String {
    let mut w = Vec::new();
    for (on, what) in [
        (n.sockets, "sockets"),
        (n.owners, "owners (/proc/*/fd)"),
        (n.close_wait_info, "tcp_info of CLOSE_WAIT"),
        (n.host, "sysctls, limits, sockstat and counters"),
        (n.counter_rates, "counter rates (two samples)"),
        (n.sysctl_files, "sysctl.conf files"),
    ] {
        if on {
            w.push(what);
        }
    }
    w.join(", ")
}

/// A rule's whole declaration as plain text, for `tcpdoctor explain ID`.
pub(super) fn rule_text(d: &RuleDoc) -> String {
    let mut s = format!(
        "{} (a tcpdoctor diagnose finding; category {})\n\nWhen it fires: {}\n\nSeverity: {}\n",
        d.id,
        d.category.name(),
        d.trigger,
        d.levels_with_defaults()
    );
    if !d.thresholds.is_empty() {
        s.push_str("\nThresholds (flags of diagnose, analyze and serve):\n");
        for l in threshold_lines(d, "") {
            s.push_str(&format!("  {l}\n"));
        }
    }
    s.push_str(&format!(
        "\nReads: {}\n\nRemedy: {}\n",
        needs_words(d.needs),
        d.remedy
    ));
    s
}

/// docs/rules.md, generated from the registry (a test keeps the file in
/// step: TCPDOCTOR_BLESS=1 rewrites it).
pub fn rules_markdown() -> String {
    let mut s = String::from(
        "# Rules\n\nWhat `tcpdoctor diagnose` checks. Generated from the rule declarations \
         (`crates/tcpdoctor-core/src/diagnose/rules/`, one file per rule); `tcpdoctor explain ID` \
         prints the same. Severities: info, warning, critical; exit status 0 (nothing above \
         info), 1 (warning), 2 (critical), 3 (could not run).\n",
    );
    for r in rules::ALL {
        let d = r.doc();
        s.push_str(&format!(
            "\n## {}\n\n- Category: {}\n- Trigger: {}\n- Severity: {}\n",
            d.id,
            d.category.name(),
            d.trigger,
            d.levels_with_defaults()
        ));
        for l in threshold_lines(d, "`") {
            s.push_str(&format!("- Threshold {l}\n"));
        }
        s.push_str(&format!(
            "- Reads: {}\n- Remedy: {}\n",
            needs_words(d.needs),
            d.remedy
        ));
    }
    s.push_str(&services::markdown());
    s.push_str(&real_software_markdown());
    s
}

/// Situations `tests/it/real_software.rs` reproduces with real third-party
/// software: (situation, software, finding).
const REAL_SITUATIONS: &[(&str, &str, &str)] = &[
    (
        "a server that closes first",
        "Python's http.server, ApacheBench",
        "time-wait-server-close (info), likely the server",
    ),
    (
        "a new connection per request",
        "redis-server, redis-py",
        "time-wait-client-churn toward :6379, Redis remedy",
    ),
    (
        "a pool keeping connections the server closed (idle timeout)",
        "redis-server (`timeout 1`), redis-py pool",
        "close-wait-leak, client side, Recv-Q 1",
    ),
    (
        "ephemeral ports run out (EADDRNOTAVAIL)",
        "redis-server, redis-py",
        "port-exhaustion (critical)",
    ),
    (
        "a stuck server, clients giving up in its accept queue",
        "nginx (stopped), curl",
        "close-wait-leak, abandoned in the accept queue, the listener named",
    ),
    ("busy and healthy (keep-alive)", "nginx, wrk", "no finding"),
];

/// What is reproduced with real software, and what is not.
fn real_software_markdown() -> String {
    let mut s = String::from(
        "\n## Reproduced with real software\n\n`tests/it/real_software.rs` runs real servers and \
         clients from Debian packages and PyPI, each in a private network namespace, and checks \
         the finding, severity, process, service and remedy an expert would give:\n\n\
         | situation | software | finding |\n|---|---|---|\n",
    );
    for (situation, software, finding) in REAL_SITUATIONS {
        s.push_str(&format!("| {situation} | {software} | {finding} |\n"));
    }
    s.push_str(
        "\nNot reproduced with third-party software here, and why: a server that never closes \
         after EOF (no packaged server leaks by design: the lab's own server does it, `lab run \
         close-wait-leak`); fd exhaustion, FIN_WAIT2 orphans, accept-queue overflow, TIME_WAIT \
         bucket overflow and orphan limits (the lab's scenarios, with tcpdoctor's own server and \
         client processes); a SYN flood (syn-backlog: it needs raw packets, which the tests do \
         not send); a slow handler told from a leak by its CLOSE_WAIT clearing within seconds \
         (that needs observation over time).\n",
    );
    s
}
