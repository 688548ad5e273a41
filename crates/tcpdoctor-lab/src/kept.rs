//! What a run leaves behind when it is kept (`lab run --keep`): its
//! record in STATE_DIR, and how `lab down` removes it, signalling only
//! processes it can prove are the lab's (pid and start time).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;
use tcpdoctor_core::collect::netns;
use tcpdoctor_core::{Error, Result};

/// Where runs record themselves.
pub const STATE_DIR: &str = "/run/tcpdoctor-lab";
/// Prefix of every lab namespace's name.
pub const NAME_PREFIX: &str = "tdlab-";

/// A run's record in STATE_DIR.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LabRecord {
    pub name: String,
    pub scenario: String,
    pub runner_pid: u32,
    /// The runner's start time, to tell it from a later process that got
    /// its pid.
    #[serde(default)]
    pub runner_start: Option<u64>,
    pub pids: Vec<u32>,
    /// Each role process and its start time: a pid is signalled only while
    /// it still names that process (pids are reused).
    #[serde(default)]
    pub procs: Vec<LabProcess>,
    pub keep: bool,
}

/// A process the lab started, as it can be recognised later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabProcess {
    pub pid: u32,
    /// Field 22 of /proc/PID/stat: clock ticks from boot to its start.
    pub start_ticks: u64,
}

/// A process's start time (field 22 of /proc/PID/stat), None when it does
/// not exist. The comm field may hold spaces and parentheses: fields are
/// counted after its last ')'.
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // After the comm: state is field 3, so starttime (22) is the 20th.
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

/// SIGKILLs `p` only if it is still the process that was recorded: a pidfd
/// is opened first, then the start time checked, so neither a pid reused
/// before the check nor one reused after it can be hit.
fn kill_if_ours(p: LabProcess) -> std::result::Result<bool, String> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, p.pid as libc::pid_t, 0) };
    if fd < 0 {
        return Ok(false);
    }
    // SAFETY: fd was just returned by pidfd_open and is ours to own.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
    if start_ticks(p.pid) != Some(p.start_ticks) {
        return Err(format!(
            "pid {} is no longer the lab's process (started at another time): not signalled",
            p.pid
        ));
    }
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    // SAFETY: a pidfd we hold, a valid signal, no siginfo, no flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            raw,
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    Ok(rc == 0)
}

pub(crate) fn record_path(name: &str) -> PathBuf {
    Path::new(STATE_DIR).join(format!("{name}.json"))
}

pub(crate) fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        Error::os(
            "running `ip` (iproute2) to manage the lab's network namespace",
            e,
        )
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::os(
            format!(
                "ip {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            std::io::Error::other("failed"),
        ))
    }
}

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

pub(crate) fn netns_exists(name: &str) -> bool {
    Path::new(netns::RUN_NETNS).join(name).exists()
}

/// Stops a lab's processes and deletes its namespace and record. Says what
/// it removed.
pub fn teardown(name: &str) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let path = record_path(name);
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(rec) = serde_json::from_str::<LabRecord>(&text)
    {
        for p in &rec.procs {
            match kill_if_ours(*p) {
                Ok(true) => done.push(format!("stopped process {}", p.pid)),
                Ok(false) => {}
                Err(why) => done.push(why),
            }
        }
        // A record from before start times were kept: its pids cannot be
        // proven to be the lab's, so they are left alone.
        for pid in rec
            .pids
            .iter()
            .filter(|pid| !rec.procs.iter().any(|p| p.pid == **pid))
        {
            if alive(*pid) {
                done.push(format!(
                    "pid {pid} is not signalled: the record cannot prove it is the lab's"
                ));
            }
        }
    }
    if netns_exists(name) && name.starts_with(NAME_PREFIX) {
        ip(&["netns", "del", name])?;
        done.push(format!("deleted network namespace {name}"));
    }
    if path.exists() {
        std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
    }
    if done.is_empty() {
        return Err(Error::os(
            format!("no lab named {name} (see `tcpdoctor lab list`)"),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    }
    Ok(done)
}

/// Records of labs: running, kept, or left behind by a killed runner.
pub fn records() -> Vec<LabRecord> {
    let Ok(dir) = std::fs::read_dir(STATE_DIR) else {
        return Vec::new();
    };
    let mut v: Vec<LabRecord> = dir
        .flatten()
        .filter_map(|e| serde_json::from_str(&std::fs::read_to_string(e.path()).ok()?).ok())
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// Removes labs whose runner died without cleaning up (SIGKILL) and that
/// were not kept on purpose. Returns what it removed.
pub fn collect_stale() -> Vec<String> {
    let mut notes = Vec::new();
    for rec in records() {
        let runner_alive = match rec.runner_start {
            Some(t) => start_ticks(rec.runner_pid) == Some(t),
            None => alive(rec.runner_pid),
        };
        if !rec.keep && !runner_alive {
            match teardown(&rec.name) {
                Ok(done) => notes.push(format!(
                    "removed stale lab {} ({})",
                    rec.name,
                    done.join(", ")
                )),
                Err(e) => notes.push(format!("could not remove stale lab {}: {e}", rec.name)),
            }
        }
    }
    notes
}
