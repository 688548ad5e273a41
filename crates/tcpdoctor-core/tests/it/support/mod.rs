//! Helpers shared by the core's tests: the captured fixtures' place and
//! the real-kernel tests' census helpers. The ones the binary's tests share
//! too (a child guard, a scratch directory, golden files, waiting on the
//! kernel) are in tcpdoctor-testkit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use tcpdoctor_core::collect::{self, ProcRoot, SocketQuery, SourceChoice};
use tcpdoctor_core::model::Census;
use tcpdoctor_core::model::TcpState;
use tcpdoctor_testkit::wait_until;

/// tests/fixtures/every-state at the workspace's root: bytes captured from
/// the kernel (capture_fixtures writes them, fixtures reads them).
pub fn every_state_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/every-state")
}

pub fn census_counts(choice: SourceChoice) -> BTreeMap<TcpState, u64> {
    let mut c = Census::new(None);
    collect::collect_sockets(&ProcRoot::live(), &SocketQuery::default(), choice, &mut c)
        .expect("census collects");
    c.states().into_iter().collect()
}

/// Waits until the netlink census equals `expected` (the last ACKs of a
/// close are processed in softirq after the syscalls return), then returns
/// it; on timeout, fails showing both.
pub fn converge(expected: &BTreeMap<TcpState, u64>) -> BTreeMap<TcpState, u64> {
    let mut last = BTreeMap::new();
    let r = wait_until("census equals the built population", || {
        last = census_counts(SourceChoice::Netlink);
        Ok(&last == expected)
    });
    assert!(
        r.is_ok(),
        "census never matched:\n  expected {expected:?}\n  saw      {last:?}"
    );
    last
}

/// Counts `ss -tan` output per state (run from this thread, so inside its
/// network namespace).
pub fn ss_counts() -> BTreeMap<TcpState, u64> {
    let out = Command::new("ss")
        .args(["-tan"])
        .output()
        .expect("runs ss (iproute2)");
    assert!(
        out.status.success(),
        "ss failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut m = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines().skip(1) {
        let name = line.split_whitespace().next().expect("a state column");
        let state: TcpState = name.parse().expect("ss prints known state names");
        *m.entry(state).or_insert(0) += 1;
    }
    m
}
