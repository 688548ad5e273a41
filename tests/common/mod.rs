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
