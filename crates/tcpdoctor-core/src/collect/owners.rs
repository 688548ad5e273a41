//! Which processes hold which sockets: one scan of /proc/*/fd per run.
//!
//! Hand-written on openat/readdir/readlinkat over directory descriptors
//! rather than the procfs crate: the scan is the cost of every owner lookup
//! (`ss -p` spends ~10 µs per open fd on the host), and this path makes one
//! readlinkat per fd with no path building and no allocation per fd. The
//! processes are split across the available cores. Threads are not walked:
//! they share their process's descriptor table.

use super::ProcRoot;
use crate::model::{FdRef, Holders, OwnerIndex, Parent, Process};
use std::collections::{HashMap, HashSet};
use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Which sockets to look for.
#[derive(Clone, Debug)]
pub enum InodeFilter {
    All,
    Only(HashSet<u64>),
}

impl InodeFilter {
    pub(crate) fn wants(&self, inode: u64) -> bool {
        match self {
            InodeFilter::All => true,
            InodeFilter::Only(set) => set.contains(&inode),
        }
    }
}

/// A directory opened with O_DIRECTORY, read with readdir(3).
struct Dir(*mut libc::DIR);

impl Dir {
    fn open_at(parent: libc::c_int, name: &CStr) -> io::Result<Dir> {
        // SAFETY: name is NUL-terminated; the fd is checked.
        let fd = unsafe {
            libc::openat(
                parent,
                name.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh directory descriptor; fdopendir owns it from here.
        let d = unsafe { libc::fdopendir(fd) };
        if d.is_null() {
            let e = io::Error::last_os_error();
            // SAFETY: fdopendir failed, so the fd is still ours to close.
            unsafe { libc::close(fd) };
            return Err(e);
        }
        Ok(Dir(d))
    }

    fn fd(&self) -> libc::c_int {
        // SAFETY: self.0 is a valid DIR*.
        unsafe { libc::dirfd(self.0) }
    }

    /// The next entry's name, skipping "." and "..".
    fn next_name(&mut self) -> Option<&CStr> {
        loop {
            // SAFETY: self.0 is a valid DIR*; the entry lives until the next call.
            let ent = unsafe { libc::readdir(self.0) };
            if ent.is_null() {
                return None;
            }
            // SAFETY: d_name is NUL-terminated inside the entry.
            let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) };
            let b = name.to_bytes();
            if b != b"." && b != b".." {
                return Some(name);
            }
        }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: closing the DIR* we opened, once.
        unsafe { libc::closedir(self.0) };
    }
}

fn parse_decimal(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 10 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(c - b'0');
    }
    u32::try_from(v).ok()
}

/// "socket:[12345]" -> 12345.
fn parse_socket_link(link: &[u8]) -> Option<u64> {
    let inner = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    if inner.is_empty() || inner.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in inner {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

#[derive(Default)]
struct PartialScan {
    by_inode: HashMap<u64, Holders>,
    fd_counts: HashMap<u32, u32>,
    denied: u32,
}

/// Scans one process's fds into `out`. A process that exited mid-scan is
/// skipped; one whose fds may not be read is counted in `denied`.
fn scan_pid(proc_dir: libc::c_int, pid: u32, filter: &InodeFilter, out: &mut PartialScan) {
    let mut path = pid.to_string().into_bytes();
    path.extend_from_slice(b"/fd\0");
    let Ok(name) = CStr::from_bytes_with_nul(&path) else {
        return;
    };
    let mut dir = match Dir::open_at(proc_dir, name) {
        Ok(d) => d,
        Err(e) => {
            if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) {
                out.denied += 1;
            }
            return;
        }
    };
    let dfd = dir.fd();
    let mut link = [0u8; 64];
    let mut count = 0u32;
    let mut refused = false;
    while let Some(fd_name) = dir.next_name() {
        count += 1;
        // SAFETY: fd_name is NUL-terminated; link is writable for its length.
        let n = unsafe {
            libc::readlinkat(dfd, fd_name.as_ptr(), link.as_mut_ptr().cast(), link.len())
        };
        if n <= 0 {
            // A listable fd directory whose links are refused: the process
            // is protected (ptrace rules, an LSM), even from root.
            refused |= matches!(
                io::Error::last_os_error().raw_os_error(),
                Some(libc::EACCES | libc::EPERM)
            );
            continue;
        }
        let Some(inode) = parse_socket_link(&link[..n as usize]) else {
            continue;
        };
        if !filter.wants(inode) {
            continue;
        }
        let Some(fd) = parse_decimal(fd_name.to_bytes()) else {
            continue;
        };
        out.by_inode
            .entry(inode)
            .or_default()
            .push(FdRef { pid, fd });
    }
    if refused {
        out.denied += 1;
    }
    out.fd_counts.insert(pid, count);
}

/// Lists the pids under the proc root.
fn list_pids(root: &ProcRoot) -> io::Result<Vec<u32>> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir(root.root())? {
        let e = e?;
        if let Some(pid) = parse_decimal(e.file_name().as_bytes()) {
            pids.push(pid);
        }
    }
    Ok(pids)
}

/// Scans every process's fds for the sockets `filter` wants, then reads
/// the details of the processes that hold one.
pub fn scan(root: &ProcRoot, filter: &InodeFilter) -> io::Result<OwnerIndex> {
    let pids = list_pids(root)?;
    let root_c = CString::new(root.root().as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "proc root path contains a NUL byte",
        )
    })?;
    let proc_dir = Dir::open_at(libc::AT_FDCWD, &root_c)?;
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let pdfd = proc_dir.fd();
    // Work stealing, one process at a time: a few processes often hold
    // most of the fds, and fixed chunks would leave a core idle.
    let next = AtomicUsize::new(0);
    let parts: Vec<PartialScan> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut part = PartialScan::default();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(pid) = pids.get(i) else { break };
                        scan_pid(pdfd, *pid, filter, &mut part);
                    }
                    part
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    drop(proc_dir);
    let mut by_inode = HashMap::new();
    let mut fd_counts = HashMap::new();
    let mut denied = 0;
    for p in parts {
        denied += p.denied;
        fd_counts.extend(p.fd_counts);
        if by_inode.is_empty() {
            by_inode = p.by_inode;
        } else {
            for (ino, h) in p.by_inode {
                by_inode.entry(ino).or_default().extend(h);
            }
        }
    }
    Ok(index_of(
        root,
        by_inode,
        &fd_counts,
        None,
        pids.len() as u32,
        denied,
    ))
}

/// The owner index of a finished scan: holders in (pid, fd) order, so that
/// every scan of the same host gives the same first owner, and the details
/// of each holding process (`owners`, when the scan knows them already)
/// with its fd count.
pub(super) fn index_of(
    root: &ProcRoot,
    mut by_inode: HashMap<u64, Holders>,
    fd_counts: &HashMap<u32, u32>,
    owners: Option<HashSet<u32>>,
    scanned: u32,
    denied: u32,
) -> OwnerIndex {
    for h in by_inode.values_mut() {
        if h.len() > 1 {
            h.sort_unstable();
        }
    }
    let owners: HashSet<u32> = owners.unwrap_or_else(|| {
        by_inode
            .values()
            .flat_map(|h| h.iter().map(|r| r.pid))
            .collect()
    });
    let mut idx = OwnerIndex {
        by_inode,
        scanned,
        denied,
        ..OwnerIndex::default()
    };
    for pid in owners {
        let mut p = read_process(root, pid);
        p.fd_count = fd_counts.get(&pid).copied().unwrap_or(0);
        idx.processes.insert(pid, p);
    }
    idx
}

/// Reads comm, cmdline, uid, limits and cgroup of one process. A process
/// that vanished leaves the fields empty.
fn read_process(root: &ProcRoot, pid: u32) -> Process {
    let base = root.path(&pid.to_string());
    let read = |name: &str| super::read_small_bytes(&base.join(name)).ok();
    let comm = read("comm")
        .map(|b| String::from_utf8_lossy(&b).trim_end().to_string())
        .unwrap_or_default();
    let cmdline = read("cmdline")
        .map(|b| short_cmdline(&b))
        .unwrap_or_default();
    let status = read("status").map(|b| String::from_utf8_lossy(&b).into_owned());
    let uid = status.as_deref().and_then(parse_status_uid);
    let (nofile_soft, nofile_hard) = read("limits")
        .map(|b| parse_nofile(&String::from_utf8_lossy(&b)))
        .unwrap_or((None, None));
    let cgroup = read("cgroup").and_then(|b| parse_cgroup(&String::from_utf8_lossy(&b)));
    let parent = status
        .as_deref()
        .and_then(parse_status_ppid)
        .filter(|p| *p > 1)
        .map(|ppid| {
            let base = root.path(&ppid.to_string());
            let read = |name: &str| super::read_small_bytes(&base.join(name)).ok();
            Parent {
                pid: ppid,
                comm: read("comm")
                    .map(|b| String::from_utf8_lossy(&b).trim_end().to_string())
                    .unwrap_or_default(),
                nofile_soft: read("limits")
                    .and_then(|b| parse_nofile(&String::from_utf8_lossy(&b)).0),
            }
        });
    Process {
        pid,
        comm,
        cmdline,
        uid,
        fd_count: 0,
        nofile_soft,
        nofile_hard,
        cgroup,
        parent,
    }
}

/// The parent pid from /proc/PID/status ("PPid:\t1234").
fn parse_status_ppid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|rest| rest.trim().parse().ok())
}

/// NUL-separated argv -> one line, cut to Process::CMDLINE_MAX characters.
fn short_cmdline(raw: &[u8]) -> String {
    let s: String = String::from_utf8_lossy(raw)
        .split('\0')
        .filter(|a| !a.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if s.chars().count() > Process::CMDLINE_MAX {
        let mut cut: String = s.chars().take(Process::CMDLINE_MAX - 1).collect();
        cut.push('…');
        cut
    } else {
        s
    }
}

/// The real uid from /proc/PID/status ("Uid:\treal\teffective\t...").
fn parse_status_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// "Max open files            1024                 524288               files"
fn parse_nofile(limits: &str) -> (Option<u64>, Option<u64>) {
    let Some(line) = limits.lines().find(|l| l.starts_with("Max open files")) else {
        return (None, None);
    };
    let mut w = line["Max open files".len()..].split_whitespace();
    let val = |s: Option<&str>| s.and_then(|v| v.parse::<u64>().ok());
    (val(w.next()), val(w.next()))
}

/// The cgroup v2 path ("0::/system.slice/nginx.service"), or else the first
/// v1 path.
pub(super) fn parse_cgroup(text: &str) -> Option<String> {
    let mut first = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(_), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if id == "0" {
            return Some(path.to_string());
        }
        first.get_or_insert_with(|| path.to_string());
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_pid_comes_from_status() {
        let status = "Name:\tnginx\nState:\tS (sleeping)\nTgid:\t7\nPid:\t7\nPPid:\t6\n";
        assert_eq!(parse_status_ppid(status), Some(6));
        assert_eq!(parse_status_ppid("Name:\tx\n"), None);
    }

    #[test]
    fn socket_links_parse_and_others_do_not() {
        assert_eq!(parse_socket_link(b"socket:[12345]"), Some(12345));
        assert_eq!(parse_socket_link(b"pipe:[12345]"), None);
        assert_eq!(parse_socket_link(b"socket:[]"), None);
        assert_eq!(parse_socket_link(b"socket:[12a]"), None);
        assert_eq!(parse_socket_link(b"/dev/null"), None);
    }

    #[test]
    fn limits_status_and_cgroup_parse() {
        let limits = "Limit                     Soft Limit           Hard \
            Limit           Units     \nMax open \
            files            1024                 20000                files     \n";
        assert_eq!(parse_nofile(limits), (Some(1024), Some(20000)));
        let unl = "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_nofile(unl), (None, None));
        assert_eq!(
            parse_status_uid("Name:\tx\nUid:\t1000\t1000\t1000\t1000\n"),
            Some(1000)
        );
        assert_eq!(
            parse_cgroup("12:pids:/docker/abc\n0::/system.slice/nginx.service\n").as_deref(),
            Some("/system.slice/nginx.service")
        );
        assert_eq!(
            parse_cgroup("3:cpu:/kubepods/pod1\n").as_deref(),
            Some("/kubepods/pod1")
        );
    }

    #[test]
    fn cmdlines_are_joined_and_cut() {
        assert_eq!(
            short_cmdline(b"nginx: worker\0-g\0daemon off;\0"),
            "nginx: worker -g daemon off;"
        );
        let long = vec![b'a'; 500];
        assert_eq!(short_cmdline(&long).chars().count(), Process::CMDLINE_MAX);
    }
}
