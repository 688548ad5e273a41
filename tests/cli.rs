//! The `tcpdoctor` binary end to end: real sockets in a private namespace,
//! a captured /proc tree with a golden output, and bad input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tcpdoctor_core::lab::netns::{have_privileges, run_in_private_netns};
use tcpdoctor_core::lab::states::{build_every_state, wait_until};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tcpdoctor"))
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("runs tcpdoctor")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Compares with a golden file; TCPDOCTOR_BLESS=1 rewrites it.
fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("TCPDOCTOR_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, actual).expect("write golden");
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (TCPDOCTOR_BLESS=1 creates it)", path.display()));
    assert_eq!(actual, want, "output differs from {}", path.display());
}

#[test]
fn census_json_in_a_private_namespace_equals_what_was_built() {
    if !have_privileges() {
        assert!(std::env::var_os("CI").is_none(), "CI must run as root");
        eprintln!("skipped: needs root to create a network namespace");
        return;
    }
    run_in_private_netns(|| {
        let pop = build_every_state(9000, 1).expect("builds");
        let want: BTreeMap<String, u64> = pop
            .expected
            .iter()
            .map(|(s, n)| (s.netstat_name().to_string(), *n))
            .collect();
        let mut last = String::new();
        let settled = wait_until("tcpdoctor census --json equals the population", || {
            let o = run(&["census", "--json"]);
            assert!(o.status.success(), "{}", stderr(&o));
            last = stdout(&o);
            let v: serde_json::Value = serde_json::from_str(&last).expect("valid JSON");
            let states: BTreeMap<String, u64> =
                serde_json::from_value(v["states"].clone()).expect("states map");
            Ok(states == want && v["total"] == serde_json::json!(pop.total()))
        });
        assert!(settled.is_ok(), "expected {want:?}, last output:\n{last}");
        // The kernel-side filter, through the CLI, with ss-style names.
        let o = run(&[
            "census",
            "--json",
            "--state",
            "time-wait",
            "-s",
            "CLOSE_WAIT",
        ]);
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
        assert_eq!(
            v["total"],
            serde_json::json!(want["TIME_WAIT"] + want["CLOSE_WAIT"])
        );
        // Text: largest first, then the total.
        let o = run(&["census"]);
        let text = stdout(&o);
        let first = text.lines().next().expect("a line");
        assert!(first.starts_with("ESTABLISHED"), "{text}");
        let total_line = text
            .lines()
            .find(|l| l.starts_with("total"))
            .expect("a total line");
        assert_eq!(
            total_line.split_whitespace().nth(1),
            Some(pop.total().to_string().as_str()),
            "{text}"
        );
    })
    .expect("namespace");
}

#[test]
fn census_of_a_captured_proc_tree_matches_its_golden_output() {
    let root = fixture("every-state/proc");
    let root = root.to_str().expect("utf-8 path");
    golden(
        "census-every-state.txt",
        &stdout(&run(&["--proc-root", root, "census"])),
    );
    golden(
        "census-every-state-by-remote.txt",
        &stdout(&run(&[
            "--proc-root",
            root,
            "census",
            "--by",
            "remote",
            "--top",
            "3",
        ])),
    );
    golden(
        "census-every-state.json",
        &stdout(&run(&["--proc-root", root, "census", "--json"])),
    );
}

#[test]
fn host_reads_a_captured_tree() {
    let root = fixture("every-state/proc");
    let o = run(&[
        "--proc-root",
        root.to_str().expect("utf-8"),
        "host",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert!(
        v["kernel_release"]
            .as_str()
            .is_some_and(|k| k.starts_with("6."))
    );
    assert!(v["sysctls"]["net.ipv4.tcp_fin_timeout"].is_string());
    assert_eq!(v["notes"], serde_json::json!([]));
}

#[test]
fn a_corrupt_proc_file_is_an_error_naming_file_and_line() {
    let tmp = std::env::temp_dir().join(format!("tcpdoctor-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(tmp.join("net")).expect("mkdir");
    let good = std::fs::read_to_string(fixture("every-state/proc/net/tcp")).expect("fixture");
    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(3, "   2: this is not a socket line");
    std::fs::write(tmp.join("net/tcp"), lines.join("\n")).expect("write");
    let o = run(&["--proc-root", tmp.to_str().expect("utf-8"), "census"]);
    std::fs::remove_dir_all(&tmp).expect("cleanup");
    assert_eq!(o.status.code(), Some(3));
    let err = stderr(&o);
    assert!(
        err.contains("net/tcp:4: expected a /proc/net/tcp line"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn binary_garbage_and_empty_files_are_handled() {
    let tmp = std::env::temp_dir().join(format!("tcpdoctor-garbage-{}", std::process::id()));
    std::fs::create_dir_all(tmp.join("net")).expect("mkdir");
    std::fs::write(tmp.join("net/tcp"), [0u8, 159, 146, 150, 255, 10, 1, 2]).expect("write");
    std::fs::write(tmp.join("net/tcp6"), b"").expect("write");
    let o = run(&["--proc-root", tmp.to_str().expect("utf-8"), "census"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("net/tcp:1:"), "{}", stderr(&o));
    std::fs::write(tmp.join("net/tcp"), b"").expect("write");
    let o = run(&[
        "--proc-root",
        tmp.to_str().expect("utf-8"),
        "census",
        "--json",
    ]);
    std::fs::remove_dir_all(&tmp).expect("cleanup");
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["total"], 0);
}

#[test]
fn an_unknown_state_is_a_usage_error_listing_valid_names() {
    let o = run(&["census", "--state", "half-open"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown TCP state 'half-open'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn help_documents_examples_and_exit_codes() {
    let o = run(&["--help"]);
    let h = stdout(&o);
    assert!(h.contains("EXAMPLES") && h.contains("EXIT STATUS"), "{h}");
    let o = run(&["census", "--help"]);
    assert!(stdout(&o).contains("--by"));
}
