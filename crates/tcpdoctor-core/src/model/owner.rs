//! Who holds a socket: processes and their file descriptors.

use super::Closer;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::collections::HashMap;

/// One file descriptor that refers to a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FdRef {
    pub pid: u32,
    /// `FdRef::UNKNOWN_FD` when a dump named the process but not the fd
    /// (netstat -p).
    pub fd: u32,
}

impl FdRef {
    pub(crate) const UNKNOWN_FD: u32 = u32::MAX;
}

/// A process that holds sockets, with what matters for diagnosis.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    pub pid: u32,
    /// /proc/PID/comm (at most 15 bytes, as the kernel keeps it).
    pub comm: String,
    /// The command line, NULs as spaces, cut to `CMDLINE_MAX` characters.
    pub cmdline: String,
    pub uid: Option<u32>,
    /// Open file descriptors of every kind; 0 when not counted (a dump
    /// names processes but not their fds).
    pub fd_count: u32,
    /// RLIMIT_NOFILE; `None` for unlimited or unknown.
    pub nofile_soft: Option<u64>,
    pub nofile_hard: Option<u64>,
    /// The cgroup v2 path (or the first v1 path): names the container or
    /// systemd unit.
    pub cgroup: Option<String>,
    /// The parent process: who started it, with its own RLIMIT_NOFILE (a
    /// child starts with its parent's limit, so a difference says the
    /// program set its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Parent>,
}

/// A process's parent, as far as its open-files limit goes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parent {
    pub pid: u32,
    pub comm: String,
    pub nofile_soft: Option<u64>,
}

impl Process {
    pub(crate) const CMDLINE_MAX: usize = 120;

    /// How many fds it has open, when that was counted: a process that
    /// holds a socket has at least one, so 0 means unknown.
    pub(crate) fn fds_open(&self) -> Option<u32> {
        (self.fd_count > 0).then_some(self.fd_count)
    }

    /// Replaces the command line with the base name of its first word
    /// (argv[0]): arguments may hold secrets (`--password=...`) and must
    /// not be served over the network unless asked for.
    pub(crate) fn hide_arguments(&mut self) {
        let argv0 = self.cmdline.split(' ').next().unwrap_or("");
        self.cmdline = argv0.rsplit('/').next().unwrap_or("").to_string();
    }
}

impl OwnerIndex {
    /// `Process::hide_arguments` for every process.
    pub(crate) fn hide_arguments(&mut self) {
        for p in self.processes.values_mut() {
            p.hide_arguments();
        }
    }
}

/// The fds that hold one socket; nearly always one.
pub(crate) type Holders = SmallVec<[FdRef; 1]>;

/// The result of a scan: socket inode -> holders, and the holding processes;
/// and, when a tracer ran, who closed each TIME_WAIT socket (by cookie).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OwnerIndex {
    pub by_inode: HashMap<u64, Holders>,
    pub processes: HashMap<u32, Process>,
    /// Socket cookie -> the process that closed it first (exact, from the
    /// tracer); only for the snapshot's TIME_WAIT sockets.
    pub closers: HashMap<u64, Closer>,
    /// Processes whose fds we may not read (other users', without root).
    pub denied: u32,
    /// Processes seen in all.
    pub scanned: u32,
    /// Where the owners came from (None: not scanned).
    pub source: Option<OwnerSource>,
    /// Whether this run traced who closed the connections, and for how
    /// long; None when it did not try (`--no-trace`, a dump).
    pub close_tracing: Option<CloseTracing>,
    /// Why no socket has an owner, when the input cannot name any (a dump
    /// without `-p`): what a finding says instead of "unknown".
    pub absent: Option<&'static str>,
}

impl OwnerIndex {
    /// What a finding says of a process it cannot name: why the input does
    /// not name it, or that none holds it now.
    pub(crate) fn unknown(&self, otherwise: &'static str) -> &'static str {
        self.absent.unwrap_or(otherwise)
    }
}

/// Whether a run traced closes: what an exact closer count covers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseTracing {
    /// Traced for this measured time before the closers were read: a
    /// TIME_WAIT older than that predates the trace.
    Traced { window_s: f64 },
    /// The tracer could not run, and why.
    Unavailable { why: String },
}

impl CloseTracing {
    /// The command that names the closers where this run could not.
    pub const TRACE_COMMAND: &'static str = "sudo tcpdoctor trace --for 10";
}

/// Where a snapshot's owners were read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerSource {
    /// The kernel's fd tables, by the eBPF iterator (iter/task_file).
    Ebpf,
    /// One scan of /proc/*/fd (a captured tree, or where eBPF cannot run).
    Proc,
}

impl OwnerSource {
    /// As the watch header says it: "eBPF", "/proc".
    pub fn name(self) -> &'static str {
        match self {
            OwnerSource::Ebpf => "eBPF",
            OwnerSource::Proc => "/proc",
        }
    }
}

impl OwnerIndex {
    pub(crate) fn holders(&self, inode: u64) -> &[FdRef] {
        if inode == 0 {
            return &[];
        }
        self.by_inode.get(&inode).map_or(&[], |h| h.as_slice())
    }

    pub fn process(&self, pid: u32) -> Option<&Process> {
        self.processes.get(&pid)
    }

    /// Who closed the socket with this cookie, when a tracer saw it.
    pub(crate) fn closer(&self, cookie: Option<u64>) -> Option<&Closer> {
        cookie.and_then(|c| self.closers.get(&c))
    }

    /// One line for the user when owners are hidden, else None.
    pub(crate) fn hidden_note(&self) -> Option<String> {
        (self.denied > 0).then(|| {
            let processes = if self.scanned == 1 {
                "process"
            } else {
                "processes"
            };
            format!(
                "owners hidden: the fds of {} of {} {processes} could not be read (other users' \
                 processes need root or CAP_SYS_PTRACE; some are protected even from root)",
                self.denied, self.scanned
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hiding_arguments_keeps_the_program_name_only() {
        let mut p = Process {
            cmdline: "/usr/bin/java -Dpassword=hunter2 -jar app.jar".into(),
            ..Process::default()
        };
        p.hide_arguments();
        assert_eq!(p.cmdline, "java");
        let mut empty = Process::default();
        empty.hide_arguments();
        assert_eq!(empty.cmdline, "");
    }
}
