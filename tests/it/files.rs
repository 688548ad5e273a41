//! The files tcpdoctor writes where it is told (`snapshot -o`, `watch
//! --record`) and the one it reads (`--config`): never through a symbolic
//! link, never over a FIFO or another user's file, always mode 0600; a
//! configuration that is not a regular file is an error, not a hang; and
//! a snapshot leaves command lines out unless asked.

use crate::support::{Kill, TempDir, bin, fixture, read_until, run, stderr};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// The fixture's /proc: the commands work without privileges.
fn proc_root() -> String {
    fixture("every-state/proc").display().to_string()
}

fn utf8(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `snapshot -o out` of the fixture.
fn snapshot_args(out: &Path) -> Vec<String> {
    [
        "--proc-root",
        &proc_root(),
        "snapshot",
        "--interval",
        "0",
        "-o",
        utf8(out),
    ]
    .map(String::from)
    .to_vec()
}

/// `watch --record out` of the fixture, one sample.
fn watch_args(out: &Path) -> Vec<String> {
    [
        "--proc-root",
        &proc_root(),
        "watch",
        "--json",
        "--count",
        "1",
        "--interval",
        "0.1",
        "--record",
        utf8(out),
    ]
    .map(String::from)
    .to_vec()
}

/// Runs the binary with `args`, killed if it has not ended within 10 s
/// (a bound on a command that might hang, not a wait for something). Its
/// stdout is not kept; its stderr is (a few lines: it cannot fill the pipe).
fn run_bounded(args: &[String]) -> Output {
    let child = bin()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs tcpdoctor");
    let mut guard = Kill(child);
    let until = Instant::now() + Duration::from_secs(10);
    let status = loop {
        match guard.0.try_wait().expect("waits") {
            Some(st) => break st,
            None if Instant::now() > until => panic!("tcpdoctor {args:?} hangs"),
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let mut err = Vec::new();
    if let Some(mut s) = guard.0.stderr.take() {
        std::io::Read::read_to_end(&mut s, &mut err).expect("stderr");
    }
    Output {
        status,
        stdout: Vec::new(),
        stderr: err,
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o7777
}

/// The arguments that make a writer write to a path.
type Writer = fn(&Path) -> Vec<String>;

/// Both writers, by name.
fn writers() -> [(&'static str, Writer); 2] {
    [
        ("snapshot -o", snapshot_args),
        ("watch --record", watch_args),
    ]
}

#[test]
fn a_symlink_at_the_output_path_is_not_followed() {
    let dir = TempDir::new("files-link");
    for (name, args) in writers() {
        for out in ["out.json", "out.json.gz"] {
            let victim = dir.write(&format!("victim-{out}"), "important\n");
            std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644))
                .expect("chmod");
            let link = dir.join(format!("link-{}", out.replace(' ', "")));
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&victim, &link).expect("symlink");
            let o = run_bounded(&args(&link));
            assert!(!o.status.success(), "{name} {out}: wrote through the link");
            assert!(
                stderr(&o).contains("symbolic link") && stderr(&o).contains(utf8(&link)),
                "{name}: {}",
                stderr(&o)
            );
            assert_eq!(
                std::fs::read_to_string(&victim).expect("victim"),
                "important\n",
                "{name} {out}"
            );
            assert_eq!(mode(&victim), 0o644, "{name} {out}");
            assert!(std::fs::symlink_metadata(&link).expect("link").is_symlink());
        }
    }
    // A dangling link does not make its target either.
    let dangling = dir.join("dangling.json");
    std::os::unix::fs::symlink(dir.join("made-by-root"), &dangling).expect("symlink");
    assert!(!run_bounded(&snapshot_args(&dangling)).status.success());
    assert!(!dir.join("made-by-root").exists());
}

#[test]
fn an_existing_0644_file_is_replaced_by_a_0600_one() {
    let dir = TempDir::new("files-mode");
    for (name, args) in writers() {
        let out = dir.write(&format!("{}.gz", name.replace([' ', '-'], "")), "old");
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        // A second name for the old file: it is left as it was.
        let other = dir.join(format!("{}-hardlink", name.replace([' ', '-'], "")));
        std::fs::hard_link(&out, &other).expect("hard link");
        let o = run_bounded(&args(&out));
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert_eq!(mode(&out), 0o600, "{name}");
        assert_ne!(std::fs::read(&out).expect("reads"), b"old", "{name}");
        assert_eq!(std::fs::read(&other).expect("reads"), b"old", "{name}");
    }
    // And a new file is 0600 too, whatever the umask lets through.
    let new = dir.join("new.json");
    let o = run_bounded(&snapshot_args(&new));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(mode(&new), 0o600);
    // No temporary file is left beside them.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("lists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

fn mkfifo(p: &Path) {
    let st = std::process::Command::new("mkfifo")
        .arg(p)
        .status()
        .expect("mkfifo");
    assert!(st.success(), "mkfifo {}", p.display());
}

#[test]
fn a_fifo_or_a_directory_at_the_output_path_is_an_error() {
    let dir = TempDir::new("files-fifo");
    let fifo = dir.join("out.json");
    mkfifo(&fifo);
    for (name, args) in writers() {
        let o = run_bounded(&args(&fifo));
        assert!(!o.status.success(), "{name}");
        assert!(
            stderr(&o).contains("FIFO") && stderr(&o).contains(utf8(&fifo)),
            "{name}: {}",
            stderr(&o)
        );
        let o = run_bounded(&args(dir.path()));
        assert!(!o.status.success(), "{name}");
        assert!(stderr(&o).contains("a directory"), "{name}: {}", stderr(&o));
    }
}

#[test]
fn a_config_that_is_a_fifo_is_an_error_not_a_hang() {
    let dir = TempDir::new("files-config");
    let fifo = dir.join("config.toml");
    mkfifo(&fifo);
    let args = [
        "--proc-root",
        &proc_root(),
        "--config",
        utf8(&fifo),
        "diagnose",
    ]
    .map(String::from)
    .to_vec();
    let o = run_bounded(&args);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("FIFO") && stderr(&o).contains(utf8(&fifo)),
        "{}",
        stderr(&o)
    );
    let args = ["--config", utf8(dir.path()), "diagnose"]
        .map(String::from)
        .to_vec();
    let o = run_bounded(&args);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("a directory"), "{}", stderr(&o));
}

#[test]
#[ignore = "needs root"]
fn another_users_file_at_the_output_path_is_an_error() {
    let dir = TempDir::new("files-owner");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    for (name, args) in writers() {
        let theirs = dir.write(&format!("{}.gz", name.replace([' ', '-'], "")), "theirs");
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).expect("chown to nobody");
        let o = run_bounded(&args(&theirs));
        assert!(!o.status.success(), "{name}");
        assert!(stderr(&o).contains("uid 65534"), "{name}: {}", stderr(&o));
        assert_eq!(std::fs::read(&theirs).expect("reads"), b"theirs", "{name}");
    }
}

/// A process that listens on a loopback port with a secret among its
/// arguments; ended with its guard.
fn secret_holder(dir: &TempDir) -> Kill {
    let script = dir.write(
        "hold.py",
        "import socket, sys\n\
         s = socket.socket()\n\
         s.bind(('127.0.0.1', 0))\n\
         s.listen()\n\
         print('ready', flush=True)\n\
         sys.stdin.read()\n",
    );
    let child = std::process::Command::new("python3")
        .arg(&script)
        .arg("--password=hunter2")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut guard = Kill(child);
    let out = guard.0.stdout.take().expect("stdout");
    read_until(&mut std::io::BufReader::new(out), "ready");
    guard
}

/// The process `pid` in a snapshot file.
fn process(snap: &serde_json::Value, pid: u64) -> serde_json::Value {
    snap["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .find(|p| p["pid"].as_u64() == Some(pid))
        .unwrap_or_else(|| panic!("no process {pid} in the snapshot"))
        .clone()
}

#[test]
fn a_snapshot_leaves_command_lines_out_unless_asked() {
    let dir = TempDir::new("files-cmdline");
    let holder = secret_holder(&dir);
    let pid = u64::from(holder.pid());
    let take = |name: &str, extra: &[&str]| -> serde_json::Value {
        let out = dir.join(name);
        let mut args = vec!["snapshot", "--interval", "0", "-o", utf8(&out)];
        args.extend_from_slice(extra);
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = std::fs::read_to_string(&out).expect("reads");
        serde_json::from_str(&text).expect("JSON")
    };
    let notes = |v: &serde_json::Value| -> Vec<String> {
        v["notes"]
            .as_array()
            .expect("notes")
            .iter()
            .filter_map(|n| n.as_str().map(String::from))
            .collect()
    };
    let hidden = take("hidden.json", &[]);
    let text = hidden.to_string();
    assert!(!text.contains("hunter2"), "the secret is in the file");
    let p = process(&hidden, pid);
    let argv0 = p["cmdline"].as_str().unwrap_or("");
    assert!(argv0.starts_with("python") && !argv0.contains(' '), "{p}");
    assert!(
        notes(&hidden)
            .iter()
            .any(|n| n.contains("command lines left out") && n.contains("--show-cmdline")),
        "{:?}",
        notes(&hidden)
    );
    let shown = take("shown.json", &["--show-cmdline"]);
    let p = process(&shown, pid);
    assert!(
        p["cmdline"]
            .as_str()
            .is_some_and(|c| c.contains("--password=hunter2")),
        "{p}"
    );
    assert!(
        !notes(&shown)
            .iter()
            .any(|n| n.contains("command lines left out"))
    );
    drop(holder);
}
