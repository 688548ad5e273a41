//! `tcpdoctor watch` in a real terminal: tmux runs it against a private
//! namespace where a process leaks CLOSE_WAIT at a known rate; the test
//! reads the pane, finds that process with its count and growth rate,
//! sends keys, and checks that the terminal is restored on quit. Then
//! `watch --record` and `replay --json` give the same samples. Needs root
//! and tmux (test.sh installs it).

use crate::support::{EXE, Kill, TempDir, bin, close_wait_leak, wait_until};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use tcpdoctor_testkit::netns::run_in_private_netns;

/// The leak on port 9500 of the test's private namespace (a fixed port
/// collides with nothing there).
fn leak() -> (Kill, Kill) {
    close_wait_leak(9500, 20_000)
}

/// A tmux server of this test's own (its own socket), killed on drop.
struct Tmux(String);

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.0, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs (test.sh installs it)")
    }

    /// The pid of the pane's shell (the session's first process).
    fn shell(&self) -> u32 {
        let o = self.run(&["display-message", "-p", "-t", "w", "#{pane_pid}"]);
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse()
            .expect("the pane's shell")
    }

    fn pane(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "w"]).stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "w"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
    }

    /// Polls the pane until `done` holds (the screen redraws on its own
    /// schedule), failing with the last screen after 30 s.
    fn until(&self, what: &str, mut done: impl FnMut(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let p = self.pane();
            if done(&p) {
                return p;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{what}; the screen:\n{p}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// The cells of the processes table's row for `pid`.
fn row_of(pane: &str, pid: u32) -> Option<Vec<String>> {
    pane.lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .find(|cells| cells.first().is_some_and(|c| *c == pid.to_string()))
}

#[test]
#[ignore = "needs root"]
fn watch_in_tmux_shows_a_leak_growing_and_restores_the_terminal() {
    run_in_private_netns(|| {
        let (server, _client) = leak();
        let pid = server.0.id();
        let tmux = Tmux(format!("tcpdoctor-test-{}", std::process::id()));
        // A shell in an 80x24 terminal, where the command is typed.
        let started = tmux.run(&["new-session", "-d", "-s", "w", "-x", "80", "-y", "24", "sh"]);
        assert!(
            started.status.success(),
            "{}",
            String::from_utf8_lossy(&started.stderr)
        );
        let cmd = format!("{EXE} watch --interval 1; echo watch-exited-$?");
        tmux.keys(&[&cmd, "Enter"]);
        // The leaking process, its CLOSE_WAIT and a rate near 600/min once
        // a few samples are in (PID COMM ESTAB CL_WAIT CW/MIN ...).
        let screen = tmux.until("the leaking process with a rate near 600/min", |p| {
            row_of(p, pid).is_some_and(|c| {
                let count: u64 = c[3].parse().unwrap_or(0);
                let rate: f64 = c[4].parse().unwrap_or(0.0);
                count >= 40 && (480.0..=720.0).contains(&rate)
            })
        });
        let cells = row_of(&screen, pid).expect("the row");
        assert_eq!(cells[1], "python3", "{screen}");
        assert!(
            screen.lines().count() <= 24 && screen.contains("q quit"),
            "{screen}"
        );
        // Switch tables, sort, select, details, back.
        tmux.keys(&["3"]);
        tmux.until("the listeners table", |p| {
            p.contains("ACCEPT Q") && p.contains(":9500")
        });
        tmux.keys(&["1", "s"]);
        tmux.until("sorted by COMM", |p| p.contains("COMMv"));
        tmux.keys(&["/", "python", "Enter", "Enter"]);
        let details = tmux.until("the process's details", |p| p.contains("details (Esc)"));
        assert!(
            details.contains("CLOSE_WAIT 127.0.0.1:9500"),
            "its sockets:\n{details}"
        );
        tmux.keys(&["Escape"]);
        tmux.until("the details closed", |p| !p.contains("details (Esc)"));
        tmux.keys(&["q"]);
        let after = tmux.until("watch ended", |p| p.contains("watch-exited-0"));
        assert!(!after.contains("q quit"), "the UI is gone:\n{after}");
        assert!(
            after.contains("watch --interval 1"),
            "the shell's screen is back:\n{after}"
        );
        let alt = tmux.run(&["display-message", "-p", "-t", "w", "#{alternate_on}"]);
        assert_eq!(
            String::from_utf8_lossy(&alt.stdout).trim(),
            "0",
            "alternate screen left"
        );
    })
    .expect("private namespace");
}

#[test]
#[ignore = "needs root"]
fn record_then_replay_gives_the_same_samples() {
    run_in_private_netns(|| {
        let (_server, _client) = leak();
        let dir = TempDir::new("rec");
        let file = dir.join("rec.gz");
        let arg = file.to_str().expect("utf-8");
        let live = bin()
            .args([
                "watch",
                "--json",
                "--count",
                "4",
                "--interval",
                "0.5",
                "--record",
                arg,
            ])
            .output()
            .expect("watch");
        let replayed = bin()
            .args(["replay", "--json", arg])
            .output()
            .expect("replay");
        drop(dir);
        assert!(
            live.status.success(),
            "{}",
            String::from_utf8_lossy(&live.stderr)
        );
        assert!(
            replayed.status.success(),
            "{}",
            String::from_utf8_lossy(&replayed.stderr)
        );
        let parse = |o: &Output| -> Vec<serde_json::Value> {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(|l| serde_json::from_str(l).expect("NDJSON"))
                .collect()
        };
        let (a, b) = (parse(&live), parse(&replayed));
        assert_eq!(a.len(), 4);
        assert_eq!(a, b, "replay --json prints what watch --json printed");
        assert!(a[3]["states"]["CLOSE_WAIT"].as_u64() > a[0]["states"]["CLOSE_WAIT"].as_u64());
    })
    .expect("private namespace");
}

/// The watch's own child of the pane's shell: the one process the test
/// started there (read from the kernel's child list, not found by name).
fn child_of(shell: u32) -> Option<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{shell}/task")).ok()?;
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .next()
}

/// A terminal that hangs up (an SSH session that drops) ends the watch UI
/// cleanly: exit 0, the terminal restored, the recording finished.
#[test]
#[ignore = "needs root"]
fn the_watch_ui_ends_cleanly_on_sighup_with_its_recording_finished() {
    run_in_private_netns(|| {
        let dir = TempDir::new("watch-hup");
        let file = dir.join("hup.gz");
        let tmux = Tmux(format!("tcpdoctor-hup-{}", std::process::id()));
        let started = tmux.run(&["new-session", "-d", "-s", "w", "-x", "80", "-y", "24", "sh"]);
        assert!(started.status.success());
        let shell = tmux.shell();
        let cmd = format!(
            "{EXE} watch --interval 0.2 --record {}; echo watch-exited-$?",
            file.display()
        );
        tmux.keys(&[&cmd, "Enter"]);
        tmux.until("the watch UI", |p| p.contains("q quit"));
        let watch = child_of(shell).expect("the watch, child of the pane's shell");
        let pid = libc::pid_t::try_from(watch).expect("a pid");
        // SAFETY: kill(2) with a valid signal on the process this test
        // started in its own tmux server's shell.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
        let after = tmux.until("watch ended", |p| p.contains("watch-exited-0"));
        assert!(!after.contains("q quit"), "the UI is gone:\n{after}");
        let alt = tmux.run(&["display-message", "-p", "-t", "w", "#{alternate_on}"]);
        assert_eq!(String::from_utf8_lossy(&alt.stdout).trim(), "0");
        let o = bin()
            .arg("replay")
            .arg("--json")
            .arg(&file)
            .output()
            .expect("replay");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(!o.stdout.is_empty(), "samples were recorded");
        assert_eq!(
            String::from_utf8_lossy(&o.stderr),
            "",
            "finished cleanly: no truncation note"
        );
    })
    .expect("private namespace");
}

/// A full disk under the watch UI: the UI goes on, and once the terminal
/// is restored the watch says that the recording stopped, exits 3, and
/// leaves what it wrote readable.
#[test]
#[ignore = "needs root"]
fn a_full_disk_under_the_watch_ui_is_said_after_it_and_the_recording_stays_readable() {
    run_in_private_netns(|| {
        let dir = TempDir::new("watch-full");
        let (mnt, copy) = (dir.join("mnt"), dir.join("copy.gz"));
        std::fs::create_dir(&mnt).expect("mkdir");
        let tmux = Tmux(format!("tcpdoctor-full-{}", std::process::id()));
        let started = tmux.run(&["new-session", "-d", "-s", "w", "-x", "80", "-y", "24", "sh"]);
        assert!(started.status.success());
        // A one-page tmpfs in a mount namespace of the pane's own.
        let cmd = format!(
            "unshare -m --propagation private sh -c 'mount -t tmpfs -o size=4k none {m} && \
             {EXE} watch --interval 0.1 --record {m}/r.gz; rc=$?; cp {m}/r.gz {c}; \
             echo watch-exited-$rc'",
            m = mnt.display(),
            c = copy.display()
        );
        tmux.keys(&[&cmd, "Enter"]);
        tmux.until("the watch UI", |p| p.contains("q quit"));
        let shell = tmux.shell();
        // The watch's mount namespace, seen through the shell it runs in.
        let inner = child_of(shell)
            .and_then(child_of)
            .expect("the unshare'd shell");
        let file = format!("/proc/{inner}/root{}/r.gz", mnt.display());
        // Once the file holds the tmpfs's one page, no write can succeed:
        // the next sample's, or the end of the stream at exit, fails.
        // It grows a sample at a time, slower on a loaded machine: wait as
        // long as it grows.
        loop {
            let last = std::fs::metadata(&file).map_or(0, |m| m.len());
            if last >= 4096 {
                break;
            }
            let grew = wait_until("the recording grows", || {
                Ok(std::fs::metadata(&file).is_ok_and(|m| m.len() > last))
            });
            grew.unwrap_or_else(|e| panic!("{e} (at {last} bytes of 4096)"));
        }
        assert!(tmux.pane().contains("q quit"), "the UI goes on");
        tmux.keys(&["q"]);
        // The status the shell echoes, not the command line that asks for it.
        let after = tmux.until("watch ended", |p| {
            p.split("watch-exited-")
                .skip(1)
                .any(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        });
        assert!(after.contains("watch-exited-3"), "{after}");
        // The pane wraps long lines at 80 columns, where a space may fall.
        let squeezed: String = after.split_whitespace().collect();
        assert!(
            squeezed.contains("Nospaceleftondevice")
                && squeezed.contains("therecordingstoppedaftersample"),
            "said once the terminal is back:\n{after}"
        );
        let o = bin()
            .args(["replay", "--json"])
            .arg(&copy)
            .output()
            .expect("replay");
        assert!(!o.stdout.is_empty(), "what was written reads back");
    })
    .expect("private namespace");
}
