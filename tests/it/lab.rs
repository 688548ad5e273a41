//! `tcpdoctor lab` end to end: every scenario produces its problem for
//! real and cleans up; --keep and `lab down`; Ctrl-C, a crashed child and a
//! killed runner leave nothing behind. Needs root (CI runs as root).

use crate::support::{Kill, UnprivilegedExe, bin, wait_until};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Output, Stdio};

fn netns_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

fn alive(pid: u64) -> bool {
    // A zombie is dead for our purposes: its sockets are gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.split(") ")
                .nth(1)
                .is_some_and(|rest| rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Runs a scenario with --json and checks what every run must: exit 0,
/// every check passed, nothing left behind. Returns the outcome.
fn run_scenario(scenario: &str) -> serde_json::Value {
    let out: Output = bin()
        .args(["lab", "run", scenario, "--json"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{scenario}: {stderr}\n{stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("JSON outcome");
    for c in v["checks"].as_array().expect("checks") {
        assert_eq!(c["ok"], true, "{scenario}: {}", c["what"]);
    }
    let name = v["netns"].as_str().expect("netns name");
    assert!(
        !netns_exists(name),
        "{scenario}: namespace {name} left behind"
    );
    for who in ["server_pid", "client_pid"] {
        let pid = v[who].as_u64().expect("pid");
        wait_until("role processes exit", || Ok(!alive(pid))).expect("the role exits");
    }
    v
}

/// The most severe finding with `id` in the run's diagnosis.
fn finding(v: &serde_json::Value, id: &str) -> Option<String> {
    let order = ["info", "warning", "critical"];
    v["diagnosis"]["findings"]
        .as_array()?
        .iter()
        .filter(|f| f["id"] == id)
        .filter_map(|f| f["severity"].as_str().map(String::from))
        .max_by_key(|s| order.iter().position(|o| o == s))
}

fn state(v: &serde_json::Value, s: &str) -> u64 {
    v["states"][s].as_u64().unwrap_or(0)
}

#[test]
#[ignore = "needs root"]
fn time_wait_server_close_piles_time_wait_on_the_servers_port() {
    let v = run_scenario("time-wait-server-close");
    assert!(state(&v, "TIME_WAIT") >= 500);
    assert_eq!(
        finding(&v, "time-wait-server-close").as_deref(),
        Some("info"),
        "harmless by itself"
    );
}

#[test]
#[ignore = "needs root"]
fn time_wait_client_churn_piles_time_wait_toward_the_upstream() {
    let v = run_scenario("time-wait-client-churn");
    assert!(state(&v, "TIME_WAIT") >= 500);
    assert!(finding(&v, "time-wait-client-churn").is_some());
}

#[test]
#[ignore = "needs root"]
fn port_exhaustion_ends_in_eaddrnotavail() {
    let v = run_scenario("port-exhaustion");
    assert_eq!(finding(&v, "port-exhaustion").as_deref(), Some("critical"));
    assert_eq!(finding(&v, "sysctl-port-range").as_deref(), Some("warning"));
    assert!(
        v["client"]["errors"]["EADDRNOTAVAIL"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{v}"
    );
}

#[test]
#[ignore = "needs root"]
fn close_wait_leak_is_owned_by_the_leaking_server() {
    let v = run_scenario("close-wait-leak");
    assert_eq!(finding(&v, "close-wait-leak").as_deref(), Some("warning"));
    assert!(state(&v, "CLOSE_WAIT") >= 200);
    assert!(v["server"]["leaked"].as_u64().is_some_and(|n| n >= 200));
}

#[test]
#[ignore = "needs root"]
fn fd_exhaustion_ends_in_emfile() {
    let v = run_scenario("fd-exhaustion");
    assert_eq!(finding(&v, "fd-exhaustion").as_deref(), Some("critical"));
    assert_eq!(
        finding(&v, "close-wait-leak").as_deref(),
        Some("critical"),
        "the leak nears the fd limit"
    );
    assert!(
        v["server"]["errors"]["EMFILE"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{v}"
    );
}

#[test]
#[ignore = "needs root"]
fn fin_wait2_orphans_wait_without_a_process() {
    let v = run_scenario("fin-wait2-orphans");
    assert!(finding(&v, "fin-wait2-orphans").is_some());
    assert!(state(&v, "FIN_WAIT2") >= 200);
}

#[test]
#[ignore = "needs root"]
fn accept_queue_overflow_counts_listen_overflows() {
    let v = run_scenario("accept-queue-overflow");
    assert_eq!(
        finding(&v, "accept-queue-overflow").as_deref(),
        Some("warning")
    );
    assert!(
        v["tcp_ext"]["ListenOverflows"]
            .as_i64()
            .is_some_and(|n| n > 0),
        "{v}"
    );
}

#[test]
#[ignore = "needs root"]
fn tw_bucket_overflow_counts_time_wait_overflow() {
    let v = run_scenario("tw-bucket-overflow");
    assert_eq!(
        finding(&v, "tw-bucket-overflow").as_deref(),
        Some("warning")
    );
    assert_eq!(
        finding(&v, "sysctl-max-tw-buckets").as_deref(),
        Some("warning")
    );
    assert!(
        v["tcp_ext"]["TCPTimeWaitOverflow"]
            .as_i64()
            .is_some_and(|n| n > 0),
        "{v}"
    );
    assert!(state(&v, "TIME_WAIT") <= 32);
}

#[test]
#[ignore = "needs root"]
fn keep_alive_leaves_no_time_wait_pile() {
    let v = run_scenario("keep-alive");
    // The fix is healthy: nothing above info.
    assert_eq!(
        v["diagnosis"]["summary"]["critical"], 0,
        "{}",
        v["diagnosis"]
    );
    assert_eq!(
        v["diagnosis"]["summary"]["warning"], 0,
        "{}",
        v["diagnosis"]
    );
    assert!(state(&v, "TIME_WAIT") <= 4);
}

#[test]
#[ignore = "needs root"]
fn kept_lab_runs_on_until_lab_down_removes_it() {
    let out = bin()
        .args([
            "lab",
            "run",
            "close-wait-leak",
            "--keep",
            "--name",
            "test-keep",
            "--json",
        ])
        .output()
        .expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let pids = [
        v["server_pid"].as_u64().unwrap_or(0),
        v["client_pid"].as_u64().unwrap_or(0),
    ];
    // Whatever fails below, `lab down` runs after.
    let result = std::panic::catch_unwind(|| {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}\n{v}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(netns_exists("tdlab-test-keep"));
        assert!(pids.iter().all(|p| alive(*p)), "kept processes run on");
        let o = bin()
            .args(["census", "--netns", "tdlab-test-keep", "--json"])
            .output()
            .expect("runs");
        let c: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert!(
            c["states"]["CLOSE_WAIT"].as_u64().is_some_and(|n| n >= 200),
            "{c}"
        );
        let list = bin().args(["lab", "list"]).output().expect("runs");
        assert!(String::from_utf8_lossy(&list.stdout).contains("tdlab-test-keep"));
    });
    let down = bin()
        .args(["lab", "down", "tdlab-test-keep"])
        .output()
        .expect("runs");
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
    assert!(!netns_exists("tdlab-test-keep"));
    for p in pids {
        wait_until("kept processes stop", || Ok(!alive(p))).expect("stopped");
    }
}

/// Starts a held run and returns it once it holds, with the role pids it
/// printed.
fn held_run(name: &str) -> (Child, Vec<u64>) {
    let mut child = bin()
        .args([
            "lab",
            "run",
            "close-wait-leak",
            "--hold",
            "600",
            "--name",
            name,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let mut pids = Vec::new();
    let err = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(err).lines();
    for line in lines.by_ref() {
        let line = line.expect("line");
        for who in ["server pid ", "client pid "] {
            if let Some(rest) = line.strip_prefix(who)
                && let Some(pid) = rest
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|p| p.parse().ok())
                && !pids.contains(&pid)
            {
                pids.push(pid);
            }
        }
        if line.starts_with("holding") {
            break;
        }
    }
    // Keep draining stderr so the runner never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    assert_eq!(pids.len(), 2, "server and client pids were printed");
    (child, pids)
}

#[test]
#[ignore = "needs root"]
fn ctrl_c_cleans_up_and_exits_130() {
    let (mut child, pids) = held_run("test-int");
    // SAFETY: signalling the child we started.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let status = child.wait().expect("waits");
    assert_eq!(status.code(), Some(130));
    assert!(!netns_exists("tdlab-test-int"));
    for p in pids {
        assert!(!alive(p), "role {p} stopped before the runner exited");
    }
}

#[test]
#[ignore = "needs root"]
fn a_crashed_child_is_reported_and_everything_is_cleaned_up() {
    let (mut child, pids) = held_run("test-crash");
    // SAFETY: killing the lab's server process.
    unsafe { libc::kill(pids[0] as libc::pid_t, libc::SIGKILL) };
    let out = child.wait().expect("waits");
    assert_eq!(out.code(), Some(3));
    assert!(!netns_exists("tdlab-test-crash"));
    assert!(!alive(pids[1]), "the client was stopped too");
}

#[test]
#[ignore = "needs root"]
fn a_killed_runner_takes_its_children_along_and_the_next_run_removes_its_namespace() {
    let (mut child, pids) = held_run("test-kill");
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    for p in &pids {
        wait_until("the roles die with their runner", || Ok(!alive(*p))).expect("PDEATHSIG");
    }
    assert!(
        netns_exists("tdlab-test-kill"),
        "SIGKILL leaves the namespace to the next run"
    );
    let out = bin()
        .args(["lab", "run", "keep-alive", "--name", "test-after-kill"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("removed stale lab tdlab-test-kill"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!netns_exists("tdlab-test-kill"));
}

#[test]
#[ignore = "needs root"]
fn without_root_the_lab_says_so_and_exits_3() {
    let out = UnprivilegedExe::new("lab-unpriv").run_as_nobody(&["lab", "run", "keep-alive"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs root"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Lab cleanup used to SIGKILL every recorded pid that was alive, and after
/// a SIGKILLed run a recorded pid may name an unrelated process by then. A
/// record whose start time does not match the live process (a reused pid)
/// must leave it alone; the matching one is stopped.
#[test]
#[ignore = "needs root"]
fn lab_down_signals_only_processes_proven_to_be_the_labs() {
    use tcpdoctor_lab::run::{LabProcess, LabRecord, STATE_DIR, start_ticks};
    let write_record = |name: &str, pid: u32, start: u64| {
        std::fs::create_dir_all(STATE_DIR).expect("state dir");
        let rec = LabRecord {
            name: name.into(),
            scenario: "keep-alive".into(),
            runner_pid: pid,
            runner_start: Some(start),
            pids: vec![pid],
            procs: vec![LabProcess {
                pid,
                start_ticks: start,
            }],
            keep: true,
        };
        let text = serde_json::to_string(&rec).expect("json");
        std::fs::write(Path::new(STATE_DIR).join(format!("{name}.json")), text).expect("write");
    };
    // An unrelated process whose pid a stale record names, with the start
    // time of the process that had the pid before.
    let bystander = Kill(
        std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .expect("sleep"),
    );
    let pid = bystander.0.id();
    let started = start_ticks(pid).expect("its start time");
    write_record("tdlab-test-reuse", pid, started - 1);
    let out = bin()
        .args(["lab", "down", "tdlab-test-reuse"])
        .output()
        .expect("runs");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        alive(u64::from(pid)),
        "an unrelated process was killed: {said}"
    );
    assert!(said.contains("not signalled"), "{said}");
    // The same pid with its true start time is the lab's: it is stopped.
    write_record("tdlab-test-reuse", pid, started);
    let out = bin()
        .args(["lab", "down", "tdlab-test-reuse"])
        .output()
        .expect("runs");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!("stopped process {pid}")), "{said}");
    wait_until("the lab's process is gone", || Ok(!alive(u64::from(pid)))).expect("killed");
}
