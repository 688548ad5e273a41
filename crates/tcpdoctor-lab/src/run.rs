//! Running a scenario: a named network namespace, a server and a client
//! process inside it, the checks, and a cleanup that happens whatever
//! happens (error, Ctrl-C, a child crashing). With `keep`, everything is
//! left running and `tcpdoctor lab down NAME` removes it.
//!
//! The namespace is made with `ip netns add` (iproute2) so that the usual
//! tools can enter it by name. Children die with the runner
//! (PR_SET_PDEATHSIG) unless kept. Each run records itself in
//! /run/tcpdoctor-lab/NAME.json, so a run killed with SIGKILL is cleaned up
//! by the next one.

use super::roles::RoleReport;
use super::scenarios::{Observation, SERVER_ADDR, Scenario};
pub use crate::kept::{
    LabProcess, LabRecord, NAME_PREFIX, STATE_DIR, collect_stale, records, start_ticks, teardown,
};
use crate::kept::{ip, netns_exists, record_path};
use crate::{set_netns_sysctl, wait_until};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use tcpdoctor_core::collect::netns;
use tcpdoctor_core::model::{COUNTERS_THAT_MATTER, NetnsInfo, NetnsSelector};
use tcpdoctor_core::ops::{
    self, Diagnosis, ListingOptions, ProcRoot, Selection, SnapshotOptions, Thresholds,
    read_host_info,
};
use tcpdoctor_core::{Error, Result};

/// How long a role may take to start or to finish its work.
const ROLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How to run a scenario.
pub struct LabOptions {
    pub scenario: &'static Scenario,
    pub scale: u64,
    pub keep: bool,
    /// Keep the problem in place this long, then clean up (for watching).
    pub hold: Option<Duration>,
    /// The tcpdoctor executable, which runs the roles.
    pub exe: PathBuf,
    /// The namespace's name; tdlab-SCENARIO by default.
    pub name: Option<String>,
    /// Report progress on stderr.
    pub progress: bool,
    /// Set by a signal handler: stop and clean up.
    pub interrupted: Arc<AtomicBool>,
}

/// What a run produced.
#[derive(Clone, Debug, Serialize)]
pub struct LabOutcome {
    pub scenario: &'static str,
    pub scale: u64,
    pub netns: String,
    pub server_pid: u32,
    pub client_pid: u32,
    pub states: BTreeMap<String, u64>,
    pub tcp_ext: BTreeMap<String, i64>,
    pub client: RoleReport,
    pub server: RoleReport,
    pub checks: Vec<super::scenarios::Check>,
    pub seconds: f64,
    pub kept: bool,
    /// `tcpdoctor diagnose` of the namespace, counters counted from its
    /// creation.
    pub diagnosis: Diagnosis,
}

impl LabOutcome {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

/// Everything a run made, removed on drop unless `kept`.
struct Lab {
    name: String,
    children: Vec<(Child, Option<ChildStdin>)>,
    kept: bool,
}

impl Lab {
    fn record(&self, scenario: &str) -> Result<()> {
        std::fs::create_dir_all(STATE_DIR).map_err(|e| Error::io(STATE_DIR, e))?;
        let rec = LabRecord {
            name: self.name.clone(),
            scenario: scenario.to_string(),
            runner_pid: std::process::id(),
            runner_start: start_ticks(std::process::id()),
            pids: self.children.iter().map(|(c, _)| c.id()).collect(),
            procs: self
                .children
                .iter()
                .filter_map(|(c, _)| {
                    Some(LabProcess {
                        pid: c.id(),
                        start_ticks: start_ticks(c.id())?,
                    })
                })
                .collect(),
            keep: self.kept,
        };
        let path = record_path(&self.name);
        let text = serde_json::to_string_pretty(&rec)
            .map_err(|e| Error::os("encoding the lab record", std::io::Error::other(e)))?;
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        for (child, stdin) in &mut self.children {
            // Closing stdin asks a role to exit; SIGKILL makes sure.
            drop(stdin.take());
            let _ = child.kill();
            let _ = child.wait();
        }
        if netns_exists(&self.name) {
            let _ = ip(&["netns", "del", &self.name]);
        }
        let _ = std::fs::remove_file(record_path(&self.name));
    }
}

/// Lines from a child's stdout, read on a thread so the runner can wait
/// with a timeout and notice Ctrl-C.
fn lines_of(child: &mut Child) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    rx
}

/// Why a wait ended early.
fn stopped(what: &str, child: &mut Child, interrupted: &AtomicBool) -> Option<Error> {
    if interrupted.load(Ordering::Relaxed) {
        return Some(Error::os(
            "interrupted",
            std::io::Error::from(std::io::ErrorKind::Interrupted),
        ));
    }
    match child.try_wait() {
        Ok(Some(status)) => Some(Error::os(
            format!("the {what} process {} died ({status})", child.id()),
            std::io::Error::other("child exited"),
        )),
        _ => None,
    }
}

/// Waits for a line starting with `prefix`, passing others to `other`.
fn wait_line(
    rx: &Receiver<String>,
    prefix: &str,
    what: &str,
    child: &mut Child,
    interrupted: &AtomicBool,
    mut other: impl FnMut(&str),
) -> Result<String> {
    let deadline = Instant::now() + ROLE_TIMEOUT;
    loop {
        if let Some(e) = stopped(what, child, interrupted) {
            return Err(e);
        }
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) if line.starts_with(prefix) => {
                return Ok(line[prefix.len()..].trim().to_string());
            }
            Ok(line) => other(&line),
            Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
            Err(RecvTimeoutError::Timeout) => {
                return Err(Error::os(
                    format!("the {what} did not say '{prefix}' in {ROLE_TIMEOUT:?}"),
                    std::io::Error::from(std::io::ErrorKind::TimedOut),
                ));
            }
            Err(RecvTimeoutError::Disconnected) => {
                // Its stdout closed: it is exiting; let try_wait say how.
                let _ = child.wait();
                return Err(stopped(what, child, interrupted).unwrap_or_else(|| {
                    Error::os(
                        format!("the {what} process closed its output"),
                        std::io::Error::other("child exited"),
                    )
                }));
            }
        }
    }
}

fn spawn_role(exe: &Path, ns_path: &Path, keep: bool, args: &[String]) -> Result<Child> {
    let ns = std::fs::File::open(ns_path).map_err(|e| Error::io(ns_path, e))?;
    let ns_fd = ns.as_raw_fd();
    let mut cmd = Command::new(exe);
    cmd.arg("lab").arg("role").args(args);
    if keep {
        cmd.arg("--detached");
    }
    // A kept role outlives us: it must not hold our stdout or stderr open
    // (a pipe reading them would never see EOF).
    let stderr = if keep {
        Stdio::null()
    } else {
        Stdio::inherit()
    };
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(ns_fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if keep {
                libc::setsid();
            } else {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| Error::os(format!("starting {} lab role", exe.display()), e))?;
    drop(ns);
    Ok(child)
}

fn observe(ns: &NetnsInfo, obs: &mut Observation) -> Result<()> {
    let root = ProcRoot::live();
    let sel = NetnsSelector::Path(ns.path.clone());
    let listing = ListingOptions {
        netns: sel,
        ..ListingOptions::default()
    };
    let snap = ops::listing(&root, &listing, &mut ops::quiet)?.snapshot;
    obs.census.clear();
    for s in snap.namespaces.iter().flat_map(|n| &n.sockets) {
        *obs.census.entry(s.state).or_insert(0) += 1;
    }
    obs.snapshot = snap;
    obs.tcp_ext = netns::run_in(ns, || read_host_info(&root).tcp_ext)?;
    Ok(())
}

/// The namespace name of a run: always under the tdlab- prefix, so that
/// `lab down` can never delete a namespace the lab did not make.
pub fn lab_name(sc: &Scenario, name: Option<&str>) -> Result<String> {
    let Some(n) = name else {
        return Ok(format!("{NAME_PREFIX}{}", sc.name));
    };
    let ok = !n.is_empty()
        && n.len() <= 200
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !ok {
        return Err(Error::os(
            format!("lab name '{n}': expected letters, digits, '-', '_' or '.'"),
            std::io::Error::from(std::io::ErrorKind::InvalidInput),
        ));
    }
    Ok(if n.starts_with(NAME_PREFIX) {
        n.to_string()
    } else {
        format!("{NAME_PREFIX}{n}")
    })
}

/// Runs a scenario to the end (or, with `keep`, until it is in place).
pub fn run(opts: &LabOptions) -> Result<LabOutcome> {
    let started = Instant::now();
    let sc = opts.scenario;
    let progress = |msg: &str| {
        if opts.progress {
            eprintln!("{msg}");
        }
    };
    for note in collect_stale() {
        progress(&format!("note: {note}"));
    }
    let name = lab_name(sc, opts.name.as_deref())?;
    if netns_exists(&name) {
        return Err(Error::os(
            format!(
                "network namespace {name} exists: a lab is running or was kept; remove it with \
                    `tcpdoctor lab down {name}`"
            ),
            std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        ));
    }
    ip(&["netns", "add", &name])?;
    let mut lab = Lab {
        name: name.clone(),
        children: Vec::new(),
        kept: false,
    };
    lab.record(sc.name)?;
    ip(&["-n", &name, "link", "set", "lo", "up"])?;
    let ns_path = Path::new(netns::RUN_NETNS).join(&name);
    let (list, _) = netns::resolve(&ProcRoot::live(), &NetnsSelector::Path(ns_path.clone()))?;
    let ns = list
        .into_iter()
        .next()
        .ok_or_else(|| Error::os("the lab namespace vanished", std::io::Error::other("gone")))?;
    for (k, v) in sc.sysctls {
        netns::run_in(&ns, || set_netns_sysctl(k, v))??;
    }
    progress(&format!(
        "lab {}: namespace {name} (net:[{}])",
        sc.name, ns.inode
    ));

    let mut server_args = vec![
        "server".to_string(),
        "--addr".into(),
        SERVER_ADDR.into(),
        "--mode".into(),
        sc.server.name().into(),
        "--backlog".into(),
        sc.backlog.to_string(),
    ];
    if let Some(n) = sc.server_nofile {
        server_args.extend(["--nofile".to_string(), n.to_string()]);
    }
    let mut server = spawn_role(&opts.exe, &ns_path, opts.keep, &server_args)?;
    let server_lines = lines_of(&mut server);
    let server_stdin = server.stdin.take();
    let server_pid = server.id();
    lab.children.push((server, server_stdin));
    lab.record(sc.name)?;
    {
        let (srv, _) = lab
            .children
            .last_mut()
            .ok_or_else(|| Error::os("no server", std::io::Error::other("missing")))?;
        wait_line(
            &server_lines,
            "ready",
            "server",
            srv,
            &opts.interrupted,
            |_| {},
        )?;
    }
    progress(&format!(
        "server pid {server_pid} listening on {SERVER_ADDR}"
    ));

    let client_args = vec![
        "client".to_string(),
        "--addr".into(),
        SERVER_ADDR.into(),
        "--mode".into(),
        sc.client.name().into(),
        "--count".into(),
        opts.scale.to_string(),
        "--conns".into(),
        sc.client_conns.to_string(),
    ];
    let mut client = spawn_role(&opts.exe, &ns_path, opts.keep, &client_args)?;
    let client_lines = lines_of(&mut client);
    let client_stdin = client.stdin.take();
    let client_pid = client.id();
    lab.children.push((client, client_stdin));
    lab.record(sc.name)?;
    let done = {
        let (cl, _) = lab
            .children
            .last_mut()
            .ok_or_else(|| Error::os("no client", std::io::Error::other("missing")))?;
        let mut shown = 0;
        wait_line(
            &client_lines,
            "done",
            "client",
            cl,
            &opts.interrupted,
            |line| {
                // "progress DONE TOTAL": show quarters.
                let mut it = line
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|w| w.parse::<u64>().ok());
                if let (Some(d), Some(t)) = (it.next(), it.next())
                    && t > 0
                    && d * 4 / t > shown
                {
                    shown = d * 4 / t;
                    progress(&format!("client pid {client_pid}: {d}/{t} done"));
                }
            },
        )?
    };
    let client_report: RoleReport = serde_json::from_str(&done).unwrap_or_default();

    // The server accepts and reads at its own pace, and the kernel finishes
    // closes in softirq after the syscalls return: ask the server for its
    // counts and look at the namespace again until the checks come true (or
    // a few seconds pass), then report what is there.
    let mut obs = Observation {
        client: client_report,
        server_pid,
        client_pid,
        ..Observation::default()
    };
    let mut checks = Vec::new();
    let mut failure = None;
    let _ = wait_until("the scenario's checks", || {
        let (srv, stdin) = &mut lab.children[0];
        if let Some(w) = stdin.as_mut() {
            let _ = writeln!(w, "report");
            let _ = w.flush();
        }
        match wait_line(
            &server_lines,
            "report",
            "server",
            srv,
            &opts.interrupted,
            |_| {},
        ) {
            Ok(line) => obs.server = serde_json::from_str(&line).unwrap_or_default(),
            Err(e) => {
                failure = Some(e);
                return Ok(true);
            }
        }
        observe(&ns, &mut obs).map_err(std::io::Error::other)?;
        checks = (sc.checks)(&obs, opts.scale);
        Ok(checks.iter().all(|c| c.ok) || opts.interrupted.load(Ordering::Relaxed))
    });
    if let Some(e) = failure {
        return Err(e);
    }
    if opts.interrupted.load(Ordering::Relaxed) {
        return Err(Error::os(
            "interrupted",
            std::io::Error::from(std::io::ErrorKind::Interrupted),
        ));
    }

    if let Some(hold) = opts.hold {
        progress(&format!(
            "holding for {}s (Ctrl-C ends it and cleans up)",
            hold.as_secs()
        ));
        let until = Instant::now() + hold;
        while Instant::now() < until {
            for (i, what) in [(0, "server"), (1, "client")] {
                if let Some(e) = stopped(what, &mut lab.children[i].0, &opts.interrupted) {
                    return Err(e);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    // The namespace is new: its counters count from zero, so no first
    // sample; and the host's sysctl.conf files do not configure it.
    let fresh = SnapshotOptions {
        netns: NetnsSelector::Path(ns.path.clone()),
        fresh_namespace: true,
        ..SnapshotOptions::default()
    };
    let snap = ops::snapshot(&ProcRoot::live(), &fresh, Selection::All, &mut ops::quiet)?;
    let diagnosis = ops::diagnose_snapshot(&snap, &Thresholds::default(), Selection::All);
    // The counters that matter, as the exporter exports them.
    let keys = COUNTERS_THAT_MATTER;
    let outcome = LabOutcome {
        scenario: sc.name,
        scale: opts.scale,
        netns: name,
        server_pid,
        client_pid,
        // The census and counters the diagnosis saw: both come from one
        // snapshot, so they agree (a census taken when the checks passed
        // could still show FIN_WAIT1 that the diagnosis sees as FIN_WAIT2).
        states: {
            let mut m: BTreeMap<String, u64> = BTreeMap::new();
            for s in snap.namespaces.iter().flat_map(|n| &n.sockets) {
                *m.entry(s.state.netstat_name().to_string()).or_insert(0) += 1;
            }
            m
        },
        tcp_ext: snap
            .namespaces
            .iter()
            .flat_map(|n| &n.host.tcp_ext)
            .filter(|(k, _)| keys.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        client: obs.client,
        server: obs.server,
        checks,
        seconds: started.elapsed().as_secs_f64(),
        kept: opts.keep,
        diagnosis,
    };
    if opts.keep {
        lab.kept = true;
        // Detached roles ignore their stdin closing when we exit.
        lab.record(sc.name)?;
    }
    Ok(outcome)
}
