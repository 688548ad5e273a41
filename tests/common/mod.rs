//! Helpers shared by the binary's end-to-end tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Compares with a golden file under tests/golden; TCPDOCTOR_BLESS=1
/// rewrites it (review the diff).
pub fn golden(name: &str, actual: &str) {
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

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tcpdoctor"))
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("runs tcpdoctor")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// True (after saying so) when the test cannot make namespaces; under CI,
/// which runs as root, that is a failure instead.
pub fn skip_without_root(test: &str) -> bool {
    if tcpdoctor_testkit::have_privileges() {
        return false;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: CI must run as root"
    );
    eprintln!("skipped {test}: needs root to create a network namespace");
    true
}

/// A copy of the binary that an unprivileged user may execute (the build
/// directory may not be reachable for them); removed on drop.
pub struct UnprivilegedExe {
    dir: PathBuf,
    pub path: PathBuf,
}

impl UnprivilegedExe {
    pub fn new(tag: &str) -> UnprivilegedExe {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("tcpdoctor-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("tcpdoctor");
        std::fs::copy(env!("CARGO_BIN_EXE_tcpdoctor"), &path).expect("copy");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        UnprivilegedExe { dir, path }
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

impl Drop for UnprivilegedExe {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A child process killed and reaped when dropped: the test's own.
pub struct Kill(pub std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A CLOSE_WAIT leak at a known rate, in the calling thread's namespace: a
/// server on 127.0.0.1:`port` that never closes what its clients close
/// (with RLIMIT_NOFILE `nofile`), and a client that connects and closes
/// ten times a second on a fixed schedule: 600 a minute. Returns (server,
/// client) once the server listens.
pub fn close_wait_leak(port: u16, nofile: u64) -> (Kill, Kill) {
    use std::io::{BufRead, BufReader};
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
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3"),
    );
    let mut line = String::new();
    BufReader::new(s.0.stdout.as_mut().expect("stdout"))
        .read_line(&mut line)
        .expect("the server says ready");
    assert_eq!(line.trim(), "ready");
    let c = Kill(
        Command::new("python3")
            .args(["-c", &client])
            .spawn()
            .expect("python3"),
    );
    (s, c)
}
