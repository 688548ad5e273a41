//! The diagnose and sockets views of a dump: what it can see, a limited
//! listing in bounded memory, and counts alone.

use super::{fixture, json};
use crate::support::{EXE, TempDir, bin, run, stderr};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

/// A dump says what it is: a file, not this host's current namespace;
/// owners "not in this dump" (ss without -p), not "no process holds a
/// connection to it now"; no tcp_fin_timeout in the evidence, which a
/// dump does not hold.
#[test]
fn a_dump_says_what_it_is_and_what_it_does_not_hold() {
    let file = fixture("ss-tan.txt");
    let args = |json: bool| {
        let mut v = vec!["analyze", "--time-wait-info", "1", "--fin-wait2-info", "1"];
        if json {
            v.push("--json");
        }
        v.push(file.to_str().expect("utf-8"));
        v.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let text = run(&args(false).iter().map(String::as_str).collect::<Vec<_>>());
    let out = String::from_utf8_lossy(&text.stdout);
    let head = out.lines().next().unwrap_or("");
    assert!(
        head.contains("dump ") && !head.contains("current"),
        "{head}"
    );
    let v = json(&run(&args(true)
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()));
    let findings = v["findings"].as_array().expect("findings");
    let churn = findings
        .iter()
        .find(|f| f["id"] == "time-wait-client-churn")
        .expect("the fixture's TIME_WAIT");
    let title = churn["title"].as_str().expect("title");
    assert!(title.contains("owners not in this dump"), "{title}");
    assert!(!title.contains("no process holds"), "{title}");
    let orphans = findings
        .iter()
        .find(|f| f["id"] == "fin-wait2-orphans")
        .expect("the fixture's FIN_WAIT2 orphans");
    assert!(
        orphans["evidence"]["tcp_fin_timeout"].is_null(),
        "{orphans}"
    );
    assert!(
        orphans["explanation"]
            .as_str()
            .is_some_and(|e| e.contains("60 s by default; this input holds no sysctls")),
        "{orphans}"
    );
}

#[test]
fn diagnose_view_of_a_dump_finds_the_problems_it_can_see() {
    // The fixture holds 2 young CLOSE_WAIT: under the floor of a finding
    // by default (normal churn), found when the floor is lowered.
    let quiet = run(&[
        "analyze",
        "--json",
        fixture("ss-tanp.txt").to_str().expect("utf-8"),
    ]);
    assert!(
        !String::from_utf8_lossy(&quiet.stdout).contains("close-wait-leak"),
        "2 CLOSE_WAIT are no finding"
    );
    let o = run(&[
        "analyze",
        "--json",
        "--close-wait-info",
        "1",
        fixture("ss-tanp.txt").to_str().expect("utf-8"),
    ]);
    let v = json(&o);
    assert_eq!(o.status.code(), Some(1), "{v}");
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(ids.contains(&"accept-queue-overflow"), "{ids:?}");
    assert!(ids.contains(&"close-wait-leak"), "{ids:?}");
    assert!(
        v["summary"]["notes"]
            .as_array()
            .expect("notes")
            .iter()
            .any(|n| n.as_str().is_some_and(|n| n.contains("no counters")))
    );
}

/// `--view sockets --limit 5` of a 1M-line dump held every row (457 MB):
/// only the listed rows and what their attribution needs are kept. The
/// rows are the first ones of the whole listing, attribution included.
#[test]
fn a_limited_listing_keeps_only_its_rows_and_equals_the_head_of_the_whole() {
    let listed = |file: &Path, extra: &[&str]| -> Vec<serde_json::Value> {
        let mut args = vec!["analyze", "--view", "sockets", "--json"];
        args.extend_from_slice(extra);
        args.push(file.to_str().expect("utf-8"));
        let o = run(&args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        json(&o).as_array().expect("rows").clone()
    };
    for f in [
        "ss-tanpoie.txt",
        "ss-tanp.txt",
        "netstat-antp.txt",
        "ss-tan.txt",
    ] {
        let file = fixture(f);
        for state in [None, Some("time-wait"), Some("close-wait")] {
            let filter: Vec<&str> = state.map(|s| vec!["--state", s]).unwrap_or_default();
            let whole = listed(&file, &filter);
            for n in [1usize, 3, 7, 1000] {
                let limit = n.to_string();
                let mut args = filter.clone();
                args.extend_from_slice(&["--limit", &limit]);
                let head: Vec<_> = whole.iter().take(n).cloned().collect();
                assert_eq!(listed(&file, &args), head, "{f} {state:?} --limit {n}");
            }
        }
    }
    // A million sockets in a 128 MiB address space: the whole listing does
    // not fit (it aborts), the limited one does.
    let dir = TempDir::new("1m");
    let mut text = String::from("State Recv-Q Send-Q Local Address:Port Peer Address:Port\n");
    for i in 0..1_000_000u32 {
        text.push_str(&format!(
            "ESTAB 0 0 10.{}.{}.{}:{} 10.0.0.1:5432\n",
            i % 200,
            (i / 200) % 250,
            i % 250,
            30000 + i % 30000
        ));
    }
    let dump = dir.write("1m.txt", text);
    let o = std::process::Command::new("prlimit")
        .arg("--as=134217728")
        .arg(EXE)
        .args(["analyze", "--view", "sockets", "--limit", "5"])
        .arg(&dump)
        .output()
        .expect("prlimit runs (util-linux)");
    drop(dir);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).lines().count(),
        6,
        "a header and 5 rows"
    );
}

/// The classic `netstat | awk` census piped in used to exit 3: counts
/// alone get the diagnosis they allow, with what they cannot tell, and a
/// Nagios exit status.
#[test]
fn counts_alone_get_the_diagnosis_they_allow() {
    let piped = |text: &str, json_out: bool| {
        let mut cmd = bin();
        cmd.arg("analyze");
        if json_out {
            cmd.arg("--json");
        }
        let mut child = cmd
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("writes");
        child.wait_with_output().expect("ends")
    };
    let o = piped("TIME_WAIT 814\nESTABLISHED 634\nCLOSE_WAIT 1\n", true);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["findings"][0]["id"], "counts-time-wait", "{v}");
    assert!(
        v["summary"]["notes"]
            .as_array()
            .expect("notes")
            .iter()
            .any(|n| n.as_str().is_some_and(|n| n.contains("cannot tell"))),
        "{v}"
    );
    let o = piped("CLOSE_WAIT 1200\nESTABLISHED 40\n", false);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("tcpdoctor sockets --state close-wait"),
        "{text}"
    );
}
