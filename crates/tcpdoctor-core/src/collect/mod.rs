//! All host access: the sock_diag dump, /proc readers, owners (/proc/*/fd),
//! network namespaces, sysctl.conf files, and the collection plans that
//! put them together (`plan`). Every path is built from one `ProcRoot`, so
//! tests can point a collector at a captured /proc tree.

pub mod bpf;
pub mod host;
pub mod netlink;
pub mod netns;
pub mod owners;
pub mod plan;
pub mod procnet;
mod sysctl_conf;
pub(crate) mod watch;

use crate::error::{Error, Result};
use crate::model::{CollectReport, Socket, SocketSink, SourceUsed, StateSet};
use netlink::{Dumper, Family, NetlinkError};

use std::fs::File;
use std::io::{BufReader, ErrorKind};
use std::path::{Path, PathBuf};

/// Where /proc is. Live by default; a captured tree in tests and offline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcRoot {
    path: PathBuf,
}

impl Default for ProcRoot {
    fn default() -> Self {
        ProcRoot::live()
    }
}

impl ProcRoot {
    pub fn live() -> ProcRoot {
        ProcRoot {
            path: PathBuf::from("/proc"),
        }
    }

    pub fn new(path: impl Into<PathBuf>) -> ProcRoot {
        ProcRoot { path: path.into() }
    }

    pub(crate) fn is_live(&self) -> bool {
        self.path == Path::new("/proc")
    }

    pub(crate) fn root(&self) -> &Path {
        &self.path
    }

    /// A path below the root, e.g. `sys/kernel/osrelease`.
    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }

    /// A file of the network namespace of the calling thread. /proc/net is
    /// /proc/self/net, which follows the main thread's namespace; a thread
    /// that entered another namespace must read /proc/thread-self/net.
    pub fn net_file(&self, name: &str) -> PathBuf {
        let thread = self.path.join("thread-self/net");
        if thread.is_dir() {
            thread.join(name)
        } else {
            self.path.join("net").join(name)
        }
    }

    /// The file of a dotted sysctl name: `net.ipv4.tcp_fin_timeout` ->
    /// `<root>/sys/net/ipv4/tcp_fin_timeout`.
    pub fn sysctl_path(&self, dotted: &str) -> PathBuf {
        let mut p = self.path.join("sys");
        for part in dotted.split('.') {
            p.push(part);
        }
        p
    }
}

/// Which sockets to collect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketQuery {
    pub states: StateSet,
    pub ipv4: bool,
    pub ipv6: bool,
    /// The states whose sockets should carry tcp_info. It costs kernel time
    /// per socket, so the others are dumped without it, in a separate pass.
    pub tcp_info: StateSet,
}

impl Default for SocketQuery {
    fn default() -> Self {
        SocketQuery {
            states: StateSet::all(),
            ipv4: true,
            ipv6: true,
            tcp_info: StateSet::empty(),
        }
    }
}

/// How to get the socket list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SourceChoice {
    /// sock_diag, falling back to /proc/net/tcp{,6} when it is unavailable;
    /// for a plain census, the eBPF census first when the host allows it.
    /// A non-live proc root always reads its files.
    #[default]
    Auto,
    Netlink,
    Proc,
    /// The eBPF census: the hash walk, else iter/tcp (a plain census only;
    /// an error where unavailable).
    Bpf,
}

/// How many times an inconsistent (NLM_F_DUMP_INTR) dump is retried before
/// the last one is used as it is, with a note.
const MAX_DUMP_TRIES: u32 = 3;

/// Streams every TCP socket that `query` asks for into `sink`.
pub fn collect_sockets<S: SocketSink + ?Sized>(
    root: &ProcRoot,
    query: &SocketQuery,
    choice: SourceChoice,
    sink: &mut S,
) -> Result<CollectReport> {
    let mut notes = Vec::new();
    let use_netlink = match choice {
        SourceChoice::Netlink | SourceChoice::Bpf => true,
        SourceChoice::Proc => false,
        SourceChoice::Auto => root.is_live(),
    };
    if use_netlink {
        match dump_netlink(query, sink, &mut notes) {
            Ok(()) => {
                return Ok(CollectReport {
                    source: SourceUsed::Netlink,
                    notes,
                });
            }
            Err(e) if choice == SourceChoice::Auto && netlink_unavailable(&e) => {
                sink.restart();
                notes.push(format!(
                    "netlink sock_diag unavailable ({e}); read /proc/net/tcp and tcp6 instead: \
                        slower, no socket cookies, no tcp_info"
                ));
            }
            Err(e) => return Err(Error::Netlink(Box::new(e))),
        }
    }
    if !query.tcp_info.is_empty() {
        notes.push(
            "tcp_info is not available from /proc/net/tcp: ages that need it are unknown".into(),
        );
    }
    dump_proc(root, query, sink, &mut notes)?;
    Ok(CollectReport {
        source: SourceUsed::Proc,
        notes,
    })
}

/// Errors that mean "this kernel or sandbox has no sock_diag for TCP", as
/// opposed to a failure part way through a dump.
fn netlink_unavailable(e: &NetlinkError) -> bool {
    match e {
        NetlinkError::Open(_) | NetlinkError::Send(_) => true,
        NetlinkError::Kernel { cause: source, .. } => matches!(
            source.raw_os_error(),
            Some(libc::ENOENT | libc::EOPNOTSUPP | libc::EINVAL | libc::EPERM | libc::EACCES)
        ),
        _ => false,
    }
}

/// Why a dump attempt did not simply succeed.
enum Attempt {
    Done,
    /// The kernel flagged the table as changing mid-dump.
    Interrupted,
    /// The one-walk request type is not supported here.
    NoOneWalk,
}

fn dump_netlink<S: SocketSink + ?Sized>(
    query: &SocketQuery,
    sink: &mut S,
    notes: &mut Vec<String>,
) -> Result<(), NetlinkError> {
    let mut dumper = Dumper::open()?;
    // One walk for both families when the kernel still answers the original
    // request type; one per family otherwise.
    let mut one_walk = query.ipv4 && query.ipv6;
    let mut attempt = 1;
    loop {
        let families: &[Family] = match (one_walk, query.ipv4, query.ipv6) {
            (true, _, _) => &[Family::Both],
            (false, true, true) => &[Family::V4, Family::V6],
            (false, true, false) => &[Family::V4],
            (false, false, true) => &[Family::V6],
            (false, false, false) => &[],
        };
        match dump_once(&mut dumper, families, query, sink, notes)? {
            Attempt::Done => return Ok(()),
            Attempt::NoOneWalk => one_walk = false,
            Attempt::Interrupted if attempt >= MAX_DUMP_TRIES => {
                notes.push(format!(
                    "the socket table changed during each of {MAX_DUMP_TRIES} dumps; the counts \
                        are from the last one and may be off by the sockets that came and went"
                ));
                return Ok(());
            }
            Attempt::Interrupted => attempt += 1,
        }
        sink.restart();
    }
}

/// One dump of every family, in up to two passes: the states that want
/// tcp_info with it, the others without.
fn dump_once<S: SocketSink + ?Sized>(
    dumper: &mut Dumper,
    families: &[Family],
    query: &SocketQuery,
    sink: &mut S,
    notes: &mut Vec<String>,
) -> Result<Attempt, NetlinkError> {
    let with_info: StateSet = query
        .states
        .iter()
        .filter(|s| query.tcp_info.contains(*s))
        .collect();
    let without: StateSet = query
        .states
        .iter()
        .filter(|s| !query.tcp_info.contains(*s))
        .collect();
    let mut interrupted = false;
    for (states, info) in [(without, false), (with_info, true)] {
        if states.is_empty() {
            continue;
        }
        for &family in families {
            let mut on = |s: &Socket| sink.socket(s);
            match dumper.dump(family, states, info, &mut on) {
                Ok(intr) => interrupted |= intr,
                Err(NetlinkError::Kernel { cause: source, .. })
                    if family == Family::Both
                        && matches!(
                            source.raw_os_error(),
                            Some(libc::EINVAL | libc::EOPNOTSUPP | libc::ENOENT)
                        ) =>
                {
                    return Ok(Attempt::NoOneWalk);
                }
                // A kernel without IPv6 refuses the AF_INET6 dump: skip it.
                Err(NetlinkError::Kernel { cause: source, .. })
                    if family == Family::V6
                        && matches!(
                            source.raw_os_error(),
                            Some(libc::ENOENT | libc::EAFNOSUPPORT)
                        ) =>
                {
                    let note =
                        format!("no IPv6 TCP sockets: the kernel refused the IPv6 dump ({source})");
                    if !notes.contains(&note) {
                        notes.push(note);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(if interrupted {
        Attempt::Interrupted
    } else {
        Attempt::Done
    })
}

fn dump_proc<S: SocketSink + ?Sized>(
    root: &ProcRoot,
    query: &SocketQuery,
    sink: &mut S,
    notes: &mut Vec<String>,
) -> Result<()> {
    let mut asked = 0;
    let mut missing = 0;
    for (on, name) in [(query.ipv4, "tcp"), (query.ipv6, "tcp6")] {
        if !on {
            continue;
        }
        asked += 1;
        let path = root.net_file(name);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let why = if name == "tcp6" {
                    "IPv6 disabled?"
                } else {
                    "not a /proc tree?"
                };
                notes.push(format!("{} is missing ({why}): skipped", path.display()));
                missing += 1;
                continue;
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        let mut on_socket = |s: &Socket| sink.socket(s);
        procnet::read_sockets(
            BufReader::with_capacity(64 * 1024, file),
            &path,
            query.states,
            &mut on_socket,
        )?;
    }
    if asked > 0 && missing == asked {
        // An empty or wrong tree must not read as a host with no sockets.
        return Err(Error::os(
            format!(
                "nothing could be read: no TCP socket table under {}",
                root.net_file("").display()
            ),
            std::io::Error::other("neither tcp nor tcp6 is there"),
        ));
    }
    Ok(())
}

/// The most a small /proc or /sys file (a counter table, a sysctl, a
/// process's comm or limits) may hold: the real ones are a few KiB. A
/// captured tree whose file never ends (a link to /dev/zero) stops here.
const MAX_SMALL_FILE: u64 = 1 << 20;

/// Reads a small text file, at most `MAX_SMALL_FILE` bytes.
fn read_small(path: &Path) -> std::io::Result<String> {
    let bytes = read_small_bytes(path)?;
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Reads a small file's bytes, at most `MAX_SMALL_FILE`.
fn read_small_bytes(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    File::open(path)?
        .take(MAX_SMALL_FILE + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SMALL_FILE {
        return Err(std::io::Error::new(
            ErrorKind::InvalidData,
            format!("longer than {MAX_SMALL_FILE} bytes: not a /proc file"),
        ));
    }
    Ok(bytes)
}
