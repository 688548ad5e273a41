//! Network namespaces: find them, and run a collection inside one.
//!
//! Each namespace (each container) has its own sockets, counters and
//! net.* sysctls. They are found from /proc/PID/ns/net, the namespaces of
//! individual threads (/proc/PID/task/TID/ns/net: a thread may have entered
//! another one) and the names `ip netns` keeps in /run/netns. A collection
//! runs on a short-lived thread that entered the namespace with setns(2),
//! so the rest of the process stays where it is.

use super::ProcRoot;
use crate::error::{Error, Result};
use crate::model::{NetnsInfo, NetnsSelector};
use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where `ip netns` keeps named namespaces.
pub const RUN_NETNS: &str = "/run/netns";

/// "net:[4026531840]" -> 4026531840.
fn parse_ns_link(link: &str) -> Option<u64> {
    link.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
}

fn ns_inode_of_link(path: &Path) -> Option<u64> {
    parse_ns_link(&std::fs::read_link(path).ok()?.to_string_lossy())
}

fn ns_inode_of_file(path: &Path) -> Result<u64> {
    // stat follows the /proc magic link (or reads the nsfs bind mount) and
    // gives the namespace's own inode.
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    Ok(meta.ino())
}

fn read_comm(root: &ProcRoot, pid: u32) -> Option<String> {
    super::read_small(&root.path(&format!("{pid}/comm")))
        .ok()
        .map(|s| s.trim_end().to_string())
}

fn read_cgroup(root: &ProcRoot, pid: u32) -> Option<String> {
    let text = super::read_small(&root.path(&format!("{pid}/cgroup"))).ok()?;
    super::owners::parse_cgroup(&text)
}

/// The names under /run/netns, by namespace inode.
fn named_namespaces() -> BTreeMap<u64, (String, PathBuf)> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(RUN_NETNS) else {
        return out;
    };
    for e in dir.flatten() {
        let path = e.path();
        if let Ok(ino) = ns_inode_of_file(&path) {
            out.entry(ino)
                .or_insert((e.file_name().to_string_lossy().into_owned(), path));
        }
    }
    out
}

/// The namespace of the calling thread.
pub(crate) fn current(root: &ProcRoot) -> Result<NetnsInfo> {
    let path = root.path("thread-self/ns/net");
    let inode = ns_inode_of_file(&path)?;
    let names = named_namespaces();
    Ok(NetnsInfo {
        inode,
        name: names.get(&inode).map(|(n, _)| n.clone()),
        pid: Some(std::process::id()),
        comm: read_comm(root, std::process::id()),
        cgroup: read_cgroup(root, std::process::id()),
        current: true,
        path,
    })
}

/// Every distinct network namespace this process can see, the current
/// one first. `hidden` counts processes whose namespace could not be read.
pub(crate) fn enumerate(root: &ProcRoot) -> Result<(Vec<NetnsInfo>, u32)> {
    let me = current(root)?;
    let mut found: BTreeMap<u64, NetnsInfo> = BTreeMap::new();
    let mut hidden = 0u32;
    let mut pids: Vec<u32> = std::fs::read_dir(root.root())
        .map_err(|e| Error::io(root.root(), e))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    for pid in pids {
        let proc_ns = root.path(&format!("{pid}/ns/net"));
        let mut seen_any = false;
        let mut candidates = vec![proc_ns];
        if let Ok(tasks) = std::fs::read_dir(root.path(&format!("{pid}/task"))) {
            for t in tasks.flatten() {
                if t.file_name().to_str() != Some(&pid.to_string()) {
                    candidates.push(t.path().join("ns/net"));
                }
            }
        }
        for path in candidates {
            let Some(inode) = ns_inode_of_link(&path) else {
                continue;
            };
            seen_any = true;
            found.entry(inode).or_insert_with(|| NetnsInfo {
                inode,
                name: None,
                pid: Some(pid),
                comm: read_comm(root, pid),
                cgroup: read_cgroup(root, pid),
                current: false,
                path,
            });
        }
        if !seen_any && root.path(&pid.to_string()).exists() {
            hidden += 1;
        }
    }
    for (inode, (name, path)) in named_namespaces() {
        let e = found.entry(inode).or_insert_with(|| NetnsInfo {
            inode,
            name: None,
            pid: None,
            comm: None,
            cgroup: None,
            current: false,
            path: path.clone(),
        });
        e.name = Some(name);
        e.path = path;
    }
    found.remove(&me.inode);
    let mut all = vec![me];
    all.extend(found.into_values());
    Ok((all, hidden))
}

/// The namespaces a selector names.
pub fn resolve(root: &ProcRoot, sel: &NetnsSelector) -> Result<(Vec<NetnsInfo>, Vec<String>)> {
    let mut notes = Vec::new();
    let one = |path: PathBuf| -> Result<Vec<NetnsInfo>> {
        let inode = ns_inode_of_file(&path)?;
        let me = current(root)?;
        if inode == me.inode {
            return Ok(vec![me]);
        }
        let names = named_namespaces();
        Ok(vec![NetnsInfo {
            inode,
            name: names.get(&inode).map(|(n, _)| n.clone()),
            pid: None,
            comm: None,
            cgroup: None,
            current: false,
            path,
        }])
    };
    let list = match sel {
        NetnsSelector::Current => vec![current(root)?],
        NetnsSelector::All => {
            let (all, hidden) = enumerate(root)?;
            if hidden > 0 {
                let processes = if hidden == 1 {
                    "1 process"
                } else {
                    &format!("{hidden} processes")
                };
                notes.push(format!(
                    "the network namespace of {processes} could not be read (needs root; some \
                     processes are protected even from root): namespaces only they use are \
                     missed"
                ));
            }
            all
        }
        NetnsSelector::Name(n) => one(Path::new(RUN_NETNS).join(n))?,
        NetnsSelector::Path(p) => one(p.clone())?,
        NetnsSelector::Pid(pid) => {
            let mut v = one(root.path(&format!("{pid}/ns/net")))?;
            for ns in &mut v {
                ns.pid = Some(*pid);
                ns.comm = read_comm(root, *pid);
                ns.cgroup = read_cgroup(root, *pid);
            }
            v
        }
    };
    Ok((list, notes))
}

/// Runs `f` inside `ns`: directly when it is the current namespace, else on
/// a thread that entered it with setns(2) (needs CAP_SYS_ADMIN).
pub fn run_in<T: Send>(ns: &NetnsInfo, f: impl FnOnce() -> T + Send) -> Result<T> {
    if ns.current {
        return Ok(f());
    }
    let file = std::fs::File::open(&ns.path).map_err(|e| Error::io(&ns.path, e))?;
    std::thread::scope(|s| {
        let h = s.spawn(|| -> Result<T> {
            // SAFETY: setns on a namespace fd we opened; affects this thread only.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(Error::os(
                    format!(
                        "entering network namespace {} (setns needs CAP_SYS_ADMIN)",
                        ns.label()
                    ),
                    std::io::Error::last_os_error(),
                ));
            }
            Ok(f())
        });
        match h.join() {
            Ok(r) => r,
            Err(p) => std::panic::resume_unwind(p),
        }
    })
}

/// Whether this process may create network namespaces (root, or
/// CAP_SYS_ADMIN): a cheap check before the lab or a test tries.
pub fn have_privileges() -> bool {
    // SAFETY: geteuid never fails.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    // CapEff bit 21 is CAP_SYS_ADMIN.
    super::host::effective_capabilities().is_some_and(|caps| caps & (1 << 21) != 0)
}

/// Writes a sysctl of the calling thread's network namespace, e.g.
/// `("net.ipv4.ip_local_port_range", "40000 40010")`. Only for namespaces
/// tcpdoctor made (the lab's, the tests'): it never changes a host's
/// settings.
pub fn set_netns_sysctl(name: &str, value: &str) -> Result<()> {
    let path = ProcRoot::live().sysctl_path(name);
    std::fs::write(&path, value).map_err(|e| Error::io(path, e))
}

/// How long a state in a namespace tcpdoctor made may take to settle.
const SETTLE: Duration = Duration::from_secs(10);

/// Polls `done` until it is true, failing with `what` after 10 s: the
/// state waited for (a socket reaching TIME_WAIT, a listener up) comes
/// from the kernel, not from a sleep.
pub fn wait_until(
    what: &str,
    mut done: impl FnMut() -> std::io::Result<bool>,
) -> std::io::Result<()> {
    let start = Instant::now();
    loop {
        if done()? {
            return Ok(());
        }
        if start.elapsed() > SETTLE {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("{what}: not reached after {SETTLE:?}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse() {
        assert_eq!("all".parse(), Ok(NetnsSelector::All));
        assert_eq!("1234".parse(), Ok(NetnsSelector::Pid(1234)));
        assert_eq!(
            "/proc/1/ns/net".parse(),
            Ok(NetnsSelector::Path("/proc/1/ns/net".into()))
        );
        assert_eq!("blue".parse(), Ok(NetnsSelector::Name("blue".into())));
        assert!("".parse::<NetnsSelector>().is_err());
        assert!("99999999999".parse::<NetnsSelector>().is_err());
    }

    #[test]
    fn ns_links_parse() {
        assert_eq!(parse_ns_link("net:[4026531840]"), Some(4026531840));
        assert_eq!(parse_ns_link("mnt:[4026531840]"), None);
    }
}
