//! `tcpdoctor analyze` and `tcpdoctor snapshot` end to end: every captured
//! dump format counts to the ground truth, owners and ages come through
//! where the format has them, bad input is named by file and line, and a
//! snapshot reads back to the same census and findings.

mod errors;
mod formats;
mod snapshot;
mod views;

use crate::support::bin;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;

/// A file of the every-state capture (tests/fixtures/every-state).
fn fixture(name: &str) -> PathBuf {
    crate::support::fixture("every-state").join(name)
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)))
}

/// The capture's ground truth: how many sockets it holds in each state.
fn expected() -> BTreeMap<String, u64> {
    serde_json::from_str(&std::fs::read_to_string(fixture("expected.json")).expect("ground truth"))
        .expect("json")
}

fn census_of(files: &[PathBuf]) -> BTreeMap<String, u64> {
    let mut args = vec![
        "analyze".to_string(),
        "--view".into(),
        "census".into(),
        "--json".into(),
    ];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let o = bin().args(&args).output().expect("runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_value(json(&o)["states"].clone()).expect("states")
}
