//! Who made the TIME_WAIT of a churning client, from plain `tcpdoctor`
//! with no flag: it traces closes through the second it waits for the
//! counter rates, so a client that opens a connection per request is named
//! by pid and name although it holds no connection when the sockets are
//! read. Real clients: Python's requests without a Session against nginx,
//! and pgbench -C against PostgreSQL.

use super::{Kill, TempDir, bin, count, nginx, one_tracer_at_a_time, python, spawn};
use super::{wait_line, wait_until};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use tcpdoctor_testkit::netns::run_in_private_netns;

/// Plain `tcpdoctor` in the calling thread's namespace: its report.
fn plain_tcpdoctor() -> String {
    let o = bin().output().expect("runs tcpdoctor");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.code().is_some_and(|c| c <= 2),
        "a verdict, not an error: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// The line of `report` with the client-churn finding toward `upstream`.
fn churn_line<'a>(report: &'a str, upstream: &str) -> &'a str {
    let want = format!("outbound TIME_WAIT toward {upstream}");
    report
        .lines()
        .find(|l| l.contains(&want))
        .unwrap_or_else(|| panic!("no {want:?} in:\n{report}"))
}

#[test]
#[ignore = "needs root"]
fn requests_without_a_session_is_named_as_the_closer_by_plain_tcpdoctor() {
    let _turn = one_tracer_at_a_time();
    run_in_private_netns(|| {
        let dir = TempDir::new("closers-nginx");
        // Keep-alive on: nginx waits for a next request, so the client
        // closes first and its side keeps the TIME_WAIT.
        let _nginx = nginx(dir.path(), 75);
        let (client, mut out) = python(
            "import requests\n\
             print('ready', flush=True)\n\
             while True:\n\
             \x20   requests.get('http://127.0.0.1:8080/').raise_for_status()\n",
        );
        wait_line(&mut out, "ready");
        wait_until("the client's TIME_WAIT piles up", || {
            Ok(count("TIME_WAIT", 8080) >= 300)
        })
        .expect("requests churns");
        let report = plain_tcpdoctor();
        let line = churn_line(&report, "127.0.0.1:8080");
        assert!(
            line.contains(&format!("closed by {}/python3", client.pid())),
            "the churning client by pid and name: {line}"
        );
        assert!(
            line.contains("closed before the"),
            "how many predate the trace: {line}"
        );
    })
    .expect("a private namespace");
}

/// The bin directory of the installed PostgreSQL (Debian keeps each major
/// version apart: /usr/lib/postgresql/15/bin).
fn postgres_bin() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (test.sh installs it)")
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("postgres").exists())
        .collect();
    dirs.sort();
    dirs.pop().expect("a PostgreSQL server binary")
}

/// A PostgreSQL server stopped with a fast shutdown (SIGINT to the
/// postmaster this test started), so that no backend outlives the test.
struct Postgres(Child);

impl Drop for Postgres {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid of our own child, not yet waited for.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let _ = self.0.wait();
    }
}

/// Runs `cmd` as the postgres user (initdb and the server refuse root).
fn as_postgres(bin: &Path, owner: &std::fs::Metadata) -> Command {
    let mut c = Command::new("setpriv");
    c.args([
        &format!("--reuid={}", owner.uid()),
        &format!("--regid={}", owner.gid()),
        "--clear-groups",
    ])
    .arg(bin);
    c
}

/// PostgreSQL on 127.0.0.1:5432 with trust authentication, its cluster
/// in `dir`, accepting connections when this returns.
fn postgres(dir: &Path) -> Postgres {
    let bin = postgres_bin();
    // The postgres user's: initdb and the server refuse to run as root.
    let owner = std::fs::metadata("/var/lib/postgresql").expect("the postgres user's home");
    std::os::unix::fs::chown(dir, Some(owner.uid()), Some(owner.gid())).expect("chown");
    let data = dir.join("data");
    let init = as_postgres(&bin.join("initdb"), &owner)
        .args(["--auth=trust", "--username=postgres", "-D"])
        .arg(&data)
        .output()
        .expect("initdb runs");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let server = as_postgres(&bin.join("postgres"), &owner)
        .arg("-D")
        .arg(&data)
        .arg("-k")
        .arg(dir)
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "port=5432"])
        .args(["-c", "fsync=off", "-c", "max_connections=50"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("postgres starts");
    let server = Postgres(server);
    // Listening is not ready: until recovery ends it answers "the database
    // system is starting up".
    wait_until("PostgreSQL accepts connections", || {
        Ok(Command::new(bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", "5432"])
            .status()?
            .success())
    })
    .expect("PostgreSQL starts");
    server
}

#[test]
#[ignore = "needs root"]
fn pgbench_reconnecting_per_transaction_is_named_as_the_closer_by_plain_tcpdoctor() {
    let _turn = one_tracer_at_a_time();
    run_in_private_netns(|| {
        let dir = TempDir::new("closers-pg");
        let _pg = postgres(dir.path());
        let pgbench = postgres_bin().join("pgbench");
        let conn = [
            "-h",
            "127.0.0.1",
            "-p",
            "5432",
            "-U",
            "postgres",
            "postgres",
        ];
        let init = Command::new(&pgbench)
            .args(["-i", "-q"])
            .args(conn)
            .output()
            .expect("pgbench -i runs");
        assert!(
            init.status.success(),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );
        // A new connection per transaction (-C), four clients, until
        // killed.
        let bench: Kill = spawn(
            Command::new(&pgbench)
                .args(["-C", "-c", "4", "-j", "2", "-S", "-T", "3600"])
                .args(conn),
        );
        wait_until("pgbench's TIME_WAIT piles up", || {
            Ok(count("TIME_WAIT", 5432) >= 300)
        })
        .expect("pgbench churns");
        let report = plain_tcpdoctor();
        let line = churn_line(&report, "127.0.0.1:5432");
        assert!(
            line.contains(&format!("closed by {}/pgbench", bench.pid())),
            "the churning client by pid and name: {line}"
        );
    })
    .expect("a private namespace");
}
