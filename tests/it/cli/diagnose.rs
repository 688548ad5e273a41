//! `diagnose`: JSON and Nagios exit codes, what a source without the
//! backlog cannot call full, and a leak measured over time.

use super::settle;
use crate::support::{TempDir, close_wait_leak, fixture, run, stderr, stdout};
use tcpdoctor_testkit::netns::run_in_private_netns;
use tcpdoctor_testkit::states::build_every_state;

#[test]
#[ignore = "needs root"]
fn diagnose_json_and_exit_codes_follow_nagios() {
    run_in_private_netns(|| {
        let dir = TempDir::new("empty-conf");
        let empty = dir.write("empty.conf", "");
        let file = empty.to_str().expect("utf-8").to_string();
        let healthy = tcpdoctor_testkit::states::build_established(9500, 5).expect("builds");
        settle(healthy.total());
        let o = run(&[
            "diagnose",
            "--interval",
            "0",
            "--json",
            "--sysctl-file",
            &file,
        ]);
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
        assert!(
            v["findings"].is_array() && v["summary"]["verdict"].is_string(),
            "{v}"
        );
        assert_eq!(
            o.status.code(),
            Some(0),
            "a few established connections are healthy: {v}"
        );
        // Every state at once includes a listener with a full accept queue
        // (backlog 0, one connection waiting): a warning, exit 1.
        let pop = build_every_state(9510, 1).expect("builds");
        settle(healthy.total() + pop.total());
        let o = run(&[
            "diagnose",
            "--interval",
            "0",
            "--json",
            "--sysctl-file",
            &file,
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
        let full = v["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|f| f["id"] == "accept-queue-overflow")
            .expect("the full queue is found");
        assert_eq!(full["subject"], "127.0.0.1:9511");
        assert!(
            full["title"]
                .as_str()
                .is_some_and(|t| t.contains(&format!("pid {}", std::process::id()))),
            "names the listener's process: {full}"
        );
        let o = run(&["diagnose", "--interval", "0", "--sysctl-file", &file]);
        assert!(stdout(&o).contains("verdict: WARNING"), "{}", stdout(&o));
    })
    .expect("namespace");
}

/// /proc/net/tcp and netstat show no listen backlog (0): a listener with
/// one queued connection was called "full (1 waiting, backlog 0)". ss shows
/// the backlog, so the same population read from ss is judged.
#[test]
fn no_queue_is_called_full_from_a_source_without_the_backlog() {
    let full_queue = |args: &[&str]| -> Vec<String> {
        let o = run(args);
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
        v["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|f| f["id"] == "accept-queue-overflow")
            .filter_map(|f| f["subject"].as_str().map(String::from))
            // The counters' finding (ListenOverflows) is not about a queue.
            .filter(|s| !s.starts_with("TcpExt"))
            .collect()
    };
    let fx = |p: &str| fixture(p).to_str().expect("utf-8").to_string();
    // The every-state population holds a backlog-0 listener with one
    // connection queued (its accept queue is full: that is how SYN_SENT is
    // made).
    let from_ss = full_queue(&["analyze", "--json", &fx("every-state/ss-tan.txt")]);
    assert!(
        !from_ss.is_empty(),
        "ss shows the backlog: the full queue is found"
    );
    for source in ["every-state/netstat-ant.txt", "every-state/proc/net/tcp"] {
        let found = full_queue(&["analyze", "--json", &fx(source)]);
        assert!(
            found.is_empty(),
            "{source}: no backlog, no verdict: {found:?}"
        );
    }
    let live = full_queue(&[
        "--proc-root",
        &fx("every-state/proc"),
        "diagnose",
        "--json",
        "--interval",
        "0",
        "--sysctl-file",
        "/dev/null",
    ]);
    assert!(live.is_empty(), "--proc-root reads /proc/net/tcp: {live:?}");
}

/// A server that never closes what its clients close, and a client that
/// connects and closes ten times a second on a fixed schedule: CLOSE_WAIT
/// grows by 600 a minute. `diagnose --for` measures that rate by socket
/// cookie and predicts when the server's 4096 fds run out.
#[test]
#[ignore = "needs root"]
fn diagnose_for_measures_a_close_wait_leak_and_predicts_the_fd_limit() {
    run_in_private_netns(|| {
        let (server, _client) = close_wait_leak(9400, 4096);
        let o = run(&["diagnose", "--for", "10", "--json"]);
        assert!(o.status.code().is_some_and(|c| c <= 2), "{}", stderr(&o));
        let d: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
        let f = d["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|f| f["id"] == "close-wait-growing")
            .unwrap_or_else(|| panic!("no close-wait-growing: {d:#}"))
            .clone();
        assert_eq!(
            f["subject"],
            format!("pid {} (python3)", server.0.id()),
            "{f:#}"
        );
        let e = &f["evidence"];
        let rate = e["growth_per_min"].as_f64().expect("a rate");
        assert!((480.0..=720.0).contains(&rate), "600/min expected: {e}");
        let window = e["window_s"].as_f64().expect("a window");
        assert!(window >= 9.0, "observed about 10 s: {e}");
        let fds = e["fds"].as_f64().expect("fds");
        let left = e["time_to_fd_limit_s"].as_f64().expect("a prediction");
        let expected = (4096.0 - fds) / 10.0;
        assert!(
            (left - expected).abs() <= expected * 0.25,
            "about {expected} s: {e}"
        );
        assert_eq!(
            f["severity"], "critical",
            "~400 s to the limit is under an hour"
        );
    })
    .expect("private namespace");
}

/// diagnose traces closers while it waits for its counter interval, and
/// `--no-trace` turns that off: the TIME_WAIT finding's evidence counts
/// what the trace saw (a number, 0 when nothing closed meanwhile) or
/// nothing at all.
#[test]
#[ignore = "needs root"]
fn diagnose_traces_while_it_waits_unless_told_not_to() {
    let _turn = crate::support::one_tracer_at_a_time();
    run_in_private_netns(|| {
        let pop = build_every_state(9600, 2).expect("builds");
        settle(pop.total());
        let seen = |extra: &[&str]| -> serde_json::Value {
            let mut args = vec![
                "diagnose",
                "--json",
                "--interval",
                "0.2",
                "--time-wait-info",
                "1",
                "--sysctl-file",
                "/dev/null",
            ];
            args.extend_from_slice(extra);
            let o = run(&args);
            let d: serde_json::Value =
                serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
            let f = d["findings"]
                .as_array()
                .expect("findings")
                .iter()
                .find(|f| f["id"] == "time-wait-client-churn")
                .unwrap_or_else(|| panic!("a churn finding in {d:#}"))
                .clone();
            f["evidence"]["seen_closing"].clone()
        };
        assert!(seen(&[]).is_u64(), "traced by default");
        assert!(
            seen(&["--no-trace"]).is_null(),
            "not traced with --no-trace"
        );
    })
    .expect("a private namespace");
}
