//! Helpers shared by the binary's end-to-end tests, one for each job. The
//! ones that do not need the binary (the child guard, the scratch
//! directory, golden files, waiting on the kernel) live in
//! tcpdoctor-testkit, shared with the core's tests, and are re-exported
//! here.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub use tcpdoctor_testkit::{Kill, TempDir, wait_until};

/// The binary under test.
pub const EXE: &str = env!("CARGO_BIN_EXE_tcpdoctor");

/// A command running the binary under test.
pub fn bin() -> Command {
    Command::new(EXE)
}

/// Runs the binary with `args` to its end.
pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("runs tcpdoctor")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A file or directory under tests/fixtures.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// Compares with a golden file under tests/golden; TCPDOCTOR_BLESS=1
/// rewrites it (review the diff).
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    tcpdoctor_testkit::golden(&path, actual);
}

/// Reads lines from `r` up to the first that contains `what` and returns
/// them all; fails if the stream ends first.
pub fn read_until(r: &mut impl BufRead, what: &str) -> String {
    let mut all = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        let n = r
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("reading until {what:?}: {e}; read: {all}"));
        assert!(n > 0, "ended before saying {what:?}: {all}");
        all.push_str(&line);
        if line.contains(what) {
            return all;
        }
    }
}

/// The port of `tcpdoctor serve --listen 127.0.0.1:0`, from its stderr
/// ("tcpdoctor: serving http://127.0.0.1:PORT/metrics"), and everything it
/// said up to then. The kernel picks a free port: no test collides with
/// another or with the host.
pub fn serving(stderr: &mut impl BufRead) -> (u16, String) {
    let said = read_until(stderr, "serving http://");
    let port = said
        .lines()
        .last()
        .and_then(|l| l.split("http://").nth(1))
        .and_then(|url| url.split('/').next())
        .and_then(|addr| addr.rsplit(':').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {said:?}"));
    (port, said)
}

/// A copy of the binary that an unprivileged user may execute (the build
/// directory may not be reachable for them); removed on drop.
pub struct UnprivilegedExe {
    _dir: TempDir,
    pub path: PathBuf,
}

impl UnprivilegedExe {
    pub fn new(tag: &str) -> UnprivilegedExe {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new(tag);
        let path = dir.join("tcpdoctor");
        std::fs::copy(EXE, &path).expect("copy");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        UnprivilegedExe { _dir: dir, path }
    }

    /// Runs it as nobody.
    pub fn run_as_nobody(&self, args: &[&str]) -> Output {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&self.path)
            .args(args)
            .output()
            .expect("setpriv runs")
    }
}

/// A CLOSE_WAIT leak at a known rate, in the calling thread's namespace: a
/// server on 127.0.0.1:`port` that never closes what its clients close
/// (with RLIMIT_NOFILE `nofile`), and a client that connects and closes
/// ten times a second on a fixed schedule: 600 a minute. Returns (server,
/// client) once the server listens. Called in a private namespace: a
/// fixed port collides with nothing there.
pub fn close_wait_leak(port: u16, nofile: u64) -> (Kill, Kill) {
    let server = format!(
        "import resource, socket\n\
         resource.setrlimit(resource.RLIMIT_NOFILE, ({nofile}, {nofile}))\n\
         l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         l.bind(('127.0.0.1', {port})); l.listen(128)\n\
         print('ready', flush=True)\n\
         held = []\n\
         while True:\n\
         \x20   c, _ = l.accept(); held.append(c)\n"
    );
    let client = format!(
        "import socket, time\n\
         start = time.monotonic()\n\
         for i in range(100000):\n\
         \x20   d = start + i * 0.1 - time.monotonic()\n\
         \x20   if d > 0: time.sleep(d)\n\
         \x20   socket.create_connection(('127.0.0.1', {port})).close()\n"
    );
    let mut s = Kill(
        Command::new("python3")
            .args(["-c", &server])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3"),
    );
    let said = read_until(
        &mut std::io::BufReader::new(s.0.stdout.as_mut().expect("stdout")),
        "ready",
    );
    assert_eq!(said.trim(), "ready");
    let c = Kill(
        Command::new("python3")
            .args(["-c", &client])
            .spawn()
            .expect("python3"),
    );
    (s, c)
}

/// The tests with real software take turns: one of them traces, and a
/// tracer anywhere on the host names closers in every namespace (its
/// table is found by name), which changes what the others see ("likely"
/// closers become exact ones).
pub fn one_tracer_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
