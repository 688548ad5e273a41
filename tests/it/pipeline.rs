//! One pipeline under every front end: what the commands once assembled
//! each in their own way, and got wrong, on the captured fixture tree.

use crate::support::{TempDir, fixture, run, stdout};
use std::io::BufRead;
use std::path::Path;

fn root() -> String {
    fixture("every-state/proc")
        .to_str()
        .expect("utf-8 path")
        .to_string()
}

/// Lowers two thresholds the fixture crosses: 4 CLOSE_WAIT, a port
/// range of 28,232.
const CONFIG: &str = "[thresholds]\nclose-wait-info = 1\nport-range-warn = 30000\n";

fn finding_ids(json: &str) -> Vec<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(json).expect("JSON");
    let mut ids: Vec<(String, String)> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().expect("a string").to_string();
            (s("id"), s("severity"))
        })
        .collect();
    ids.sort();
    ids
}

/// Plain `tcpdoctor` once ran diagnose with the built-in defaults, so a
/// configuration file changed `tcpdoctor diagnose` and not it.
#[test]
fn plain_tcpdoctor_reads_the_configuration_as_diagnose_does() {
    let dir = TempDir::new("plain");
    let cfg = dir.write("config.toml", CONFIG);
    let cfg = cfg.to_str().expect("utf-8 path");
    let root = root();
    let plain = run(&["--proc-root", &root, "--config", cfg]);
    let named = run(&["--proc-root", &root, "--config", cfg, "diagnose"]);
    let unconfigured = run(&["--proc-root", &root]);
    assert_eq!(stdout(&plain), stdout(&named));
    assert_eq!(plain.status.code(), named.status.code());
    assert_eq!(
        plain.status.code(),
        Some(1),
        "a warning: {}",
        stdout(&plain)
    );
    for id in ["close-wait-leak", "sysctl-port-range"] {
        assert!(stdout(&plain).contains(id), "{id}: {}", stdout(&plain));
        assert!(!stdout(&unconfigured).contains(id), "{id} without the file");
    }
}

/// `tcpdoctor sysctl` once judged with the built-in thresholds whatever
/// the file and flags said, so one rule was a warning under diagnose and
/// nothing under sysctl.
#[test]
fn sysctl_judges_with_the_thresholds_diagnose_uses() {
    let dir = TempDir::new("sysctl");
    let cfg = dir.write("config.toml", CONFIG);
    let cfg = cfg.to_str().expect("utf-8 path");
    let root = root();
    let want = vec![("sysctl-port-range".to_string(), "warning".to_string())];
    let by_flag = run(&[
        "--proc-root",
        &root,
        "sysctl",
        "--json",
        "--port-range-warn",
        "30000",
    ]);
    assert_eq!(finding_ids(&stdout(&by_flag)), want);
    let by_file = run(&["--proc-root", &root, "--config", cfg, "sysctl", "--json"]);
    assert_eq!(finding_ids(&stdout(&by_file)), want);
    let diagnosed = run(&["--proc-root", &root, "--config", cfg, "diagnose", "--json"]);
    assert!(
        finding_ids(&stdout(&diagnosed)).contains(&want[0]),
        "diagnose agrees: {}",
        stdout(&diagnosed)
    );
    let default = run(&["--proc-root", &root, "sysctl", "--json"]);
    assert_eq!(finding_ids(&stdout(&default)), Vec::new());
}

/// `watch` once told where owners came from by the start of a note, and
/// a recording of a captured /proc tree said "owners eBPF".
#[test]
fn watch_says_where_the_owners_came_from() {
    let dir = TempDir::new("watch-header");
    let rec = dir.join("r.gz");
    let rec = rec.to_str().expect("utf-8 path");
    let root = root();
    let o = run(&[
        "--proc-root",
        &root,
        "watch",
        "--count",
        "1",
        "--json",
        "--record",
        rec,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let replayed = run(&["replay", rec, "--json"]);
    assert!(replayed.status.success());
    let mut first = String::new();
    tcpdoctor_core::ops::open_input(Path::new(rec))
        .expect("opens the recording")
        .read_line(&mut first)
        .expect("reads its header");
    let header: serde_json::Value = serde_json::from_str(&first).expect("JSON");
    let header = header["header"].as_str().expect("the header line");
    assert!(header.contains("owners /proc"), "{header}");
}
