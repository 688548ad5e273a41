//! `sysctl`: auditing a file, line by line, and the snippet it emits.

use crate::support::{TempDir, run, stderr, stdout};

#[test]
fn sysctl_audit_of_a_file_names_file_and_line_and_emits_a_snippet() {
    let dir = TempDir::new("sysctl");
    let f = dir.join("99-blog-advice.conf");
    std::fs::write(
        &f,
        "# copied from a blog\nnet.ipv4.tcp_tw_recycle = \
        1\nnet.ipv4.tcp_fin_timeout = 15\nnet.ipv4.tcp_tw_reuse = 1\n",
    )
    .expect("write");
    let file = f.to_str().expect("utf-8");
    let o = run(&["sysctl", "--sysctl-file", file, "--json"]);
    assert_eq!(o.status.code(), Some(1), "warnings: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"sysctl-tw-recycle") && ids.contains(&"sysctl-fin-timeout"),
        "{ids:?}"
    );
    let recycle = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == "sysctl-tw-recycle")
        .expect("finding");
    assert_eq!(recycle["subject"], format!("{file}:2"));
    for key in [
        "id",
        "severity",
        "title",
        "subject",
        "evidence",
        "explanation",
        "remedy",
    ] {
        assert!(recycle.get(key).is_some(), "{key}");
    }
    let o = run(&["sysctl", "--sysctl-file", file, "--emit"]);
    let snippet = stdout(&o);
    assert!(
        snippet.contains("net.ipv4.tcp_fin_timeout = 60"),
        "{snippet}"
    );
    assert!(
        snippet.contains(&format!("delete the line at {file}:2")),
        "{snippet}"
    );
    assert!(
        !snippet.contains("tcp_tw_recycle = "),
        "never recommend tcp_tw_recycle: {snippet}"
    );
    // A malformed line is a note naming file, line and what was expected,
    // and the rest of the file is still audited (as systemd-sysctl does):
    // one bad line in /etc/sysctl.d used to fail every command.
    std::fs::write(&f, "net.ipv4.tcp_tw_reuse 1\nnet.ipv4.tcp_tw_recycle = 1\n").expect("write");
    let o = run(&["sysctl", "--sysctl-file", file, "--json"]);
    assert!(
        stderr(&o).contains(&format!("{file}:1: expected 'key = value'")),
        "{}",
        stderr(&o)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert!(
        v["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["subject"] == format!("{file}:2")),
        "line 2 is still audited: {v}"
    );
}

/// The block a popular post tells people to paste into /etc/sysctl.conf:
/// every TCP-related line gets a verdict and a reason, and every sysctl
/// commented on is a topic of explain.
#[test]
fn a_tuning_file_from_a_blog_gets_a_verdict_for_every_line() {
    let dir = TempDir::new("blog");
    let f = dir.join("99-blog.conf");
    std::fs::write(
        &f,
        "net.ipv4.tcp_syn_retries=2\nnet.ipv4.tcp_keepalive_time=1200\n\
         net.ipv4.tcp_orphan_retries=3\nnet.ipv4.tcp_fin_timeout=30\n\
         net.ipv4.tcp_max_syn_backlog = 4096\nnet.ipv4.tcp_syncookies = 1\n\
         net.ipv4.tcp_tw_reuse = 1\nnet.ipv4.tcp_tw_recycle = 1\n\
         net.ipv4.tcp_keepalive_probes=5\nnet.core.netdev_max_backlog=3000\n",
    )
    .expect("write");
    let o = run(&[
        "sysctl",
        "--sysctl-file",
        f.to_str().expect("utf-8"),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let lines = v["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 10, "{v}");
    for l in lines {
        assert!(
            !l["reason"].as_str().unwrap_or("").is_empty(),
            "a reason for {l}"
        );
        let key = l["key"].as_str().expect("key");
        let e = run(&["explain", key]);
        assert!(e.status.success(), "explain {key}");
    }
    let level = |k: &str| {
        lines
            .iter()
            .find(|l| l["key"] == k)
            .map(|l| l["level"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(level("net.ipv4.tcp_tw_recycle").as_deref(), Some("harmful"));
    assert_eq!(
        level("net.ipv4.tcp_fin_timeout").as_deref(),
        Some("no_effect")
    );
    assert_eq!(
        level("net.ipv4.tcp_keepalive_time").as_deref(),
        Some("no_effect")
    );
}
