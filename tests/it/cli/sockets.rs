//! `sockets`: the documented fields, owners and ages, filters, without
//! root, and a reader that stops early.

use super::settle;
use crate::support::{TempDir, UnprivilegedExe, bin, run, stderr, stdout};
use tcpdoctor_testkit::netns::run_in_private_netns;
use tcpdoctor_testkit::states::build_every_state;

#[test]
#[ignore = "needs root"]
fn sockets_json_has_owners_ages_and_the_documented_fields() {
    run_in_private_netns(|| {
        let pop = build_every_state(9200, 1).expect("builds");
        settle(pop.total());
        let o = run(&["sockets", "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).expect("a JSON array");
        assert_eq!(rows.len() as u64, pop.total());
        for r in &rows {
            for key in [
                "state",
                "local",
                "remote",
                "recv_q",
                "send_q",
                "age_s",
                "owners",
                "likely_owners",
            ] {
                assert!(r.get(key).is_some(), "{key} missing in {r}");
            }
        }
        let cw: Vec<&serde_json::Value> =
            rows.iter().filter(|r| r["state"] == "CLOSE_WAIT").collect();
        assert_eq!(
            cw.len() as u64,
            pop.expected[&tcpdoctor_core::model::TcpState::CloseWait]
        );
        for r in cw {
            assert!(r["age_s"].is_number(), "{r}");
            assert_eq!(r["owners"][0]["pid"], serde_json::json!(std::process::id()));
            assert!(r["owners"][0]["fd"].is_number());
        }
        let tw: Vec<&serde_json::Value> =
            rows.iter().filter(|r| r["state"] == "TIME_WAIT").collect();
        for r in tw {
            assert!(r["age_s"].is_number());
            assert_eq!(r["owners"], serde_json::json!([]));
            assert_eq!(r["side"], "outbound");
            // Likely, or exact when a tracer ran meanwhile (a test
            // beside this one may trace: diagnose does by default).
            let me = serde_json::json!(std::process::id());
            assert!(
                r["likely_owners"][0]["pid"] == me || r["closed_by"]["pid"] == me,
                "{r}"
            );
        }
        // Filters: state names in any spelling, ports, limit.
        let o = run(&[
            "sockets",
            "--json",
            "-s",
            "close-wait",
            "-s",
            "LISTEN",
            "--sport",
            "9200",
        ]);
        let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).expect("json");
        assert!(
            rows.iter()
                .all(|r| (r["state"] == "CLOSE_WAIT" || r["state"] == "LISTEN")
                    && r["local"].as_str().is_some_and(|l| l.ends_with(":9200")))
        );
        assert_eq!(rows.len(), 1 + 2, "the listener and both CLOSE_WAIT");
        let o = run(&["sockets", "--json", "--limit", "3"]);
        assert_eq!(
            serde_json::from_str::<Vec<serde_json::Value>>(&stdout(&o))
                .expect("json")
                .len(),
            3
        );
        let o = run(&["sockets", "--json", "--comm", "no-such-process"]);
        assert_eq!(stdout(&o).trim(), "[]");
        // Text: a header and one line per socket.
        let o = run(&["sockets", "--state", "close-wait"]);
        let text = stdout(&o);
        assert!(
            text.lines()
                .next()
                .is_some_and(|h| h.starts_with("STATE") && h.contains("OWNER")),
            "{text}"
        );
        assert_eq!(text.lines().count(), 3, "{text}");
    })
    .expect("namespace");
}

#[test]
#[ignore = "needs root"]
fn without_root_sockets_are_listed_and_hidden_owners_are_said_once() {
    let exe = UnprivilegedExe::new("unpriv");
    let result = std::panic::catch_unwind(|| {
        run_in_private_netns(|| {
            let pop = build_every_state(9300, 1).expect("builds");
            settle(pop.total());
            let as_nobody = |args: &[&str]| exe.run_as_nobody(args);
            let o = as_nobody(&["census", "--json"]);
            assert!(o.status.success(), "{}", stderr(&o));
            let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
            assert_eq!(
                v["total"],
                serde_json::json!(pop.total()),
                "the kernel shows every socket to anyone"
            );
            let o = as_nobody(&["sockets", "--json"]);
            assert!(o.status.success(), "{}", stderr(&o));
            let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).expect("json");
            assert_eq!(rows.len() as u64, pop.total());
            assert!(
                rows.iter().all(|r| r["owners"] == serde_json::json!([])),
                "root's fds are hidden"
            );
            let err = stderr(&o);
            assert_eq!(err.matches("owners hidden").count(), 1, "{err}");
        })
        .expect("namespace");
    });
    drop(exe);
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

/// `tcpdoctor sockets --json | head -1` used to exit 3 with "Broken pipe":
/// a reader that stops early is not an error.
#[test]
fn a_closed_pipe_ends_quietly_with_0() {
    use std::io::Read;
    use std::process::Stdio;
    // 20,000 sockets: the JSON (~3 MB) outgrows the pipe buffer, so the
    // writes after we close our end fail with EPIPE.
    let dir = TempDir::new("pipe");
    let mut text = String::from("State Recv-Q Send-Q Local Address:Port Peer Address:Port\n");
    for i in 0..20_000u32 {
        text.push_str(&format!(
            "TIME-WAIT 0 0 10.0.{}.{}:{} 10.0.0.9:5432\n",
            i / 250,
            i % 250,
            30000 + i % 30000
        ));
    }
    let dump = dir.write("dump.txt", text);
    let dump_arg = dump.to_str().expect("utf-8").to_string();
    for args in [
        vec!["analyze", "--view", "sockets", "--json", &dump_arg],
        vec!["analyze", "--view", "sockets", &dump_arg],
    ] {
        let mut child = bin()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts");
        // Read one byte, then close our end, as `head -c1` does.
        let mut out = child.stdout.take().expect("stdout");
        let mut byte = [0u8; 1];
        out.read_exact(&mut byte).expect("some output");
        drop(out);
        let o = child.wait_with_output().expect("ends");
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert!(
            !stderr(&o).contains("Broken pipe"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}
