//! Who closed each connection, from a tp_btf/inet_sock_set_state program
//! (`bpf/closers.bpf.c`). While a `Tracer` runs:
//! - the kernel remembers the closer of every connection by socket cookie
//!   (a TIME_WAIT socket keeps its full socket's cookie), so any tcpdoctor
//!   on the host names TIME_WAIT closers exactly (`running_closers`), also
//!   for processes that have exited since;
//! - every connection's end arrives as a `ConnectionEnd` (`Tracer::drain`);
//! - opens are counted per upstream and per listening port (`opens`).

use super::records::{
    self, TCPD_OPENED_ACCEPTED, TCPD_OPENED_CONNECTED, TCPD_SIDE_FIRST, TCPD_SIDE_LAST,
    tcpd_closer, tcpd_event, tcpd_open_key,
};
use super::{Attached, Unavailable, ip_of};
use crate::model::{
    CloseOrder, Closer, ConnectionEnd, EndKind, Endpoint, OpenCount, Opened, TcpState,
};
use libbpf_rs::query::MapInfoIter;
use libbpf_rs::{MapCore, MapFlags, MapHandle, RingBuffer, RingBufferBuilder};
use std::collections::{HashMap, HashSet};
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub(super) static OBJECT: &[u8] = include_bytes!("../../../bpf/closers.bpf.o");

/// The map every tracer's closers live in, found by name from any process.
const CLOSERS_MAP: &str = "tcpd_closers";
const CLOSER_SIZE: usize = size_of::<tcpd_closer>();
const EVENT_SIZE: usize = size_of::<tcpd_event>();

/// A `comm` as /proc shows it: up to its NUL.
fn comm_of(comm: &[u8]) -> String {
    let end = comm.iter().position(|c| *c == 0).unwrap_or(comm.len());
    String::from_utf8_lossy(&comm[..end]).into_owned()
}

/// CLOCK_MONOTONIC now, in ns: the clock of bpf_ktime_get_ns.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

fn unix_now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// cgroup v2 ids (the inode of the cgroup's directory) to their paths,
/// read from the cgroup2 mount on a miss, at most once a second.
#[derive(Default)]
struct CgroupNames {
    paths: HashMap<u64, String>,
    walked: Option<Instant>,
}

impl CgroupNames {
    /// Directories walked at most (a host with more cgroups than this gets
    /// the first ones named, the rest unnamed).
    const MAX_DIRS: usize = 100_000;

    pub(crate) fn name(&mut self, id: u64) -> Option<String> {
        if id == 0 {
            return None;
        }
        if !self.paths.contains_key(&id) && self.walked.is_none_or(|t| t.elapsed().as_secs() >= 1) {
            let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            match cgroup2_mount(&mounts) {
                Some(root) => self.walk(Path::new(&root)),
                None => self.walked = Some(Instant::now()),
            }
        }
        self.paths.get(&id).cloned()
    }

    fn walk(&mut self, root: &Path) {
        self.walked = Some(Instant::now());
        self.paths.clear();
        let Ok(dev) = std::fs::metadata(root).map(|m| m.dev()) else {
            return;
        };
        let mut stack = vec![(root.to_path_buf(), String::from("/"))];
        while let Some((dir, name)) = stack.pop() {
            if self.paths.len() >= Self::MAX_DIRS {
                break;
            }
            // Another file system mounted below is not a cgroup.
            let Ok(meta) = std::fs::metadata(&dir) else {
                continue;
            };
            if meta.dev() != dev {
                continue;
            }
            self.paths.insert(meta.ino(), name.clone());
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    let child = e.file_name().to_string_lossy().into_owned();
                    let path = if name == "/" {
                        format!("/{child}")
                    } else {
                        format!("{name}/{child}")
                    };
                    stack.push((e.path(), path));
                }
            }
        }
    }
}

/// Where the cgroup2 hierarchy is mounted, from /proc/self/mountinfo
/// (`/sys/fs/cgroup` on most hosts, `/sys/fs/cgroup/unified` on hybrid
/// ones).
fn cgroup2_mount(mountinfo: &str) -> Option<String> {
    mountinfo.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        left.split_whitespace().nth(4).map(str::to_string)
    })
}

fn closer_of(raw: &tcpd_closer, now_ns: u64, cgroups: &mut CgroupNames) -> Option<Closer> {
    let order = match raw.side {
        TCPD_SIDE_FIRST => CloseOrder::First,
        TCPD_SIDE_LAST => CloseOrder::Last,
        _ => return None,
    };
    Some(Closer {
        pid: raw.pid,
        comm: comm_of(&raw.comm),
        cgroup: cgroups.name(raw.cgroup_id),
        order,
        closed_s_ago: now_ns.saturating_sub(raw.ts_ns) as f64 / 1e9,
    })
}

/// Parses one `struct tcpd_event`.
fn parse_event(
    b: &[u8],
    now_ns: u64,
    now_unix: f64,
    cgroups: &mut CgroupNames,
) -> Option<ConnectionEnd> {
    let e = records::read::<tcpd_event>(b)?;
    let closer = closer_of(&e.closer, e.ts_ns, cgroups);
    let last_state = TcpState::from_kernel(e.oldstate).unwrap_or(TcpState::Established);
    let opened = match e.opened {
        TCPD_OPENED_CONNECTED => Some(Opened::Connected),
        TCPD_OPENED_ACCEPTED => Some(Opened::Accepted),
        _ => None,
    };
    Some(ConnectionEnd {
        at_unix_s: now_unix - now_ns.saturating_sub(e.ts_ns) as f64 / 1e9,
        netns: u64::from(e.netns),
        local: Endpoint::new(ip_of(e.family, e.saddr), e.sport),
        remote: Endpoint::new(ip_of(e.family, e.daddr), e.dport),
        end: EndKind::from_last_state(last_state, e.peer_fin != 0),
        closer,
        opened,
        lifetime_s: (opened.is_some() && e.lifetime_ns > 0).then(|| e.lifetime_ns as f64 / 1e9),
        cookie: e.cookie,
    })
}

/// A running tracer: the program attached, the ring of connection ends.
pub struct Tracer {
    // Fields drop in order: the ring before the object whose map it reads.
    ring: RingBuffer<'static>,
    attached: Attached,
    pending: Arc<Mutex<Vec<u8>>>,
    cgroups: CgroupNames,
    started: Instant,
}

impl Tracer {
    /// Loads and attaches the tracer. From here on, the kernel remembers
    /// who closes each connection.
    pub fn start() -> Result<Tracer, Unavailable> {
        let attached = super::load("tracer", OBJECT, "on_state")?;
        let pending = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&pending);
        let ring = {
            let map =
                super::map(&attached.obj, "tcpd_events").map_err(|e| Unavailable(e.to_string()))?;
            let mut b = RingBufferBuilder::new();
            b.add(&map, move |data: &[u8]| {
                if let Ok(mut p) = sink.lock() {
                    p.extend_from_slice(&data[..data.len().min(EVENT_SIZE)]);
                    let whole = p.len().next_multiple_of(EVENT_SIZE);
                    p.resize(whole, 0);
                }
                0
            })
            .map_err(|e| Unavailable(format!("the tracer's ring: {e}")))?;
            b.build()
                .map_err(|e| Unavailable(format!("the tracer's ring: {e}")))?
        };
        Ok(Tracer {
            attached,
            ring,
            pending,
            cgroups: CgroupNames::default(),
            started: Instant::now(),
        })
    }

    /// When tracing began.
    pub(crate) fn started(&self) -> Instant {
        self.started
    }

    /// The connection ends reported since the last call, oldest first.
    pub fn drain(&mut self) -> io::Result<Vec<ConnectionEnd>> {
        self.ring.consume().map_err(io::Error::other)?;
        let raw = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let (now_ns, now_unix) = (monotonic_ns(), unix_now_s());
        Ok(raw
            .chunks_exact(EVENT_SIZE)
            .filter_map(|e| parse_event(e, now_ns, now_unix, &mut self.cgroups))
            .collect())
    }

    /// Connection ends the tracer missed: the ones its ring had no room
    /// for (0 unless the reader fell far behind), and the runs of its
    /// programs the kernel skipped (`recursion_misses`: the tracepoint
    /// fired while a program was already running on that CPU).
    pub fn lost(&self) -> u64 {
        let ring = super::map(&self.attached.obj, "tcpd_lost")
            .ok()
            .and_then(|m| m.lookup(&0u32.to_ne_bytes(), MapFlags::ANY).ok().flatten())
            .and_then(|v| records::read::<u64>(&v))
            .unwrap_or(0);
        ring + self.recursion_misses()
    }

    /// The kernel memory the tracer's maps and programs hold, as the
    /// kernel accounts it (`memlock` in each fd's fdinfo); None when it
    /// cannot be read.
    pub(crate) fn kernel_bytes(&self) -> Option<u64> {
        let obj = &self.attached.obj;
        let fds = obj
            .maps()
            .map(|m| m.as_fd().as_raw_fd())
            .chain(obj.progs().map(|p| p.as_fd().as_raw_fd()));
        let mut total = 0;
        for fd in fds {
            let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok()?;
            total += info
                .lines()
                .find_map(|l| l.strip_prefix("memlock:"))
                .and_then(|v| v.trim().parse::<u64>().ok())?;
        }
        Some(total)
    }

    /// The runs of the tracer's programs the kernel skipped, from each
    /// program's `bpf_prog_info` (0 where the kernel cannot tell).
    fn recursion_misses(&self) -> u64 {
        self.attached
            .obj
            .progs()
            .map(|p| {
                let mut info = libbpf_rs::libbpf_sys::bpf_prog_info::default();
                let mut len = std::mem::size_of_val(&info) as u32;
                // SAFETY: `info` is a bpf_prog_info of `len` bytes for the
                // kernel to fill, and the fd is the loaded program's, open
                // while `self` lives.
                let r = unsafe {
                    libbpf_rs::libbpf_sys::bpf_prog_get_info_by_fd(
                        p.as_fd().as_raw_fd(),
                        &mut info,
                        &mut len,
                    )
                };
                if r == 0 { info.recursion_misses } else { 0 }
            })
            .sum()
    }

    /// Connections opened per upstream and per listening port so far.
    pub fn opens(&self) -> io::Result<Vec<OpenCount>> {
        let map = super::map(&self.attached.obj, "tcpd_opens")?;
        let mut out = Vec::new();
        for key in map.keys() {
            let Some(k) = records::read::<tcpd_open_key>(&key) else {
                continue;
            };
            let Some(v) = map.lookup(&key, MapFlags::ANY).map_err(io::Error::other)? else {
                continue;
            };
            let opened = if k.dir == TCPD_OPENED_ACCEPTED {
                Opened::Accepted
            } else {
                Opened::Connected
            };
            out.push(OpenCount {
                netns: u64::from(k.netns),
                opened,
                endpoint: Endpoint::new(ip_of(k.family, k.addr), k.port),
                count: records::read::<u64>(&v).unwrap_or(0),
            });
        }
        Ok(out)
    }
}

/// Who closed the sockets with these cookies, from the closers table of
/// every tracer running on this host (this process's, another `tcpdoctor
/// trace`, `serve --trace`). `Ok(None)` when no tracer runs; an error when
/// the tables cannot be listed (listing needs CAP_SYS_ADMIN).
pub(crate) fn running_closers(
    cookies: &HashSet<u64>,
) -> Result<Option<HashMap<u64, Closer>>, Unavailable> {
    if std::env::var_os(super::DISABLE_ENV).is_some() {
        return Ok(None);
    }
    let ids: Vec<u32> = MapInfoIter::default()
        .filter(|m| {
            m.name.to_bytes() == CLOSERS_MAP.as_bytes()
                && m.key_size == 8
                && m.value_size as usize == CLOSER_SIZE
        })
        .map(|m| m.id)
        .collect();
    if ids.is_empty() {
        return Ok(None);
    }
    let now_ns = monotonic_ns();
    let mut cgroups = CgroupNames::default();
    let mut out = HashMap::new();
    for id in ids {
        let map = MapHandle::from_map_id(id)
            .map_err(|e| Unavailable(format!("opening the tracer's closers table: {e}")))?;
        for c in cookies {
            if out.contains_key(c) {
                continue;
            }
            if let Ok(Some(v)) = map.lookup(&c.to_ne_bytes(), MapFlags::ANY)
                && let Some(raw) = records::read::<tcpd_closer>(&v)
                && let Some(closer) = closer_of(&raw, now_ns, &mut cgroups)
            {
                out.insert(*c, closer);
            }
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closer_bytes(ts: u64, pid: u32, side: u8, comm: &str) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&ts.to_ne_bytes());
        b.extend_from_slice(&0u64.to_ne_bytes());
        b.extend_from_slice(&pid.to_ne_bytes());
        b.extend_from_slice(&[side, 0]);
        b.extend_from_slice(&43210u16.to_ne_bytes());
        let mut c = [0u8; 16];
        c[..comm.len()].copy_from_slice(comm.as_bytes());
        b.extend_from_slice(&c);
        b
    }

    #[test]
    fn an_event_reads_as_the_kernel_wrote_it() {
        let mut b = Vec::new();
        b.extend_from_slice(&5_000_000_000u64.to_ne_bytes()); // ts
        b.extend_from_slice(&77u64.to_ne_bytes()); // cookie
        b.extend_from_slice(&250_000_000u64.to_ne_bytes()); // lifetime
        b.extend_from_slice(&closer_bytes(4_900_000_000, 42, 1, "curl"));
        let mut saddr = [0u8; 16];
        saddr[..4].copy_from_slice(&[10, 0, 0, 1]);
        let mut daddr = [0u8; 16];
        daddr[..4].copy_from_slice(&[10, 0, 0, 2]);
        b.extend_from_slice(&saddr);
        b.extend_from_slice(&daddr);
        b.extend_from_slice(&43210u16.to_ne_bytes());
        b.extend_from_slice(&80u16.to_ne_bytes());
        b.extend_from_slice(&2u16.to_ne_bytes()); // AF_INET
        b.extend_from_slice(&[5, 1]); // from FIN_WAIT2, connected
        b.extend_from_slice(&4026531840u32.to_ne_bytes());
        b.extend_from_slice(&[1, 0, 0, 0]); // the peer's FIN came
        assert_eq!(b.len(), EVENT_SIZE);
        let e =
            parse_event(&b, 6_000_000_000, 1000.0, &mut CgroupNames::default()).expect("parses");
        assert_eq!(e.cookie, 77);
        assert_eq!(e.local.to_string(), "10.0.0.1:43210");
        assert_eq!(e.remote.to_string(), "10.0.0.2:80");
        assert_eq!(e.end, EndKind::ClosedFirst);
        assert_eq!(e.opened, Some(Opened::Connected));
        assert_eq!(e.lifetime_s, Some(0.25));
        assert_eq!(e.netns, 4026531840);
        assert!((e.at_unix_s - 999.0).abs() < 1e-9, "1 s before now");
        let c = e.closer.expect("a closer");
        assert_eq!(
            (c.pid, c.comm.as_str(), c.order),
            (42, "curl", CloseOrder::First)
        );
        assert!(
            (c.closed_s_ago - 0.1).abs() < 1e-9,
            "closed 0.1 s before the end"
        );
        // The same end before the peer's FIN: a FIN_WAIT2 orphan.
        b[EVENT_SIZE - 4] = 0;
        let e =
            parse_event(&b, 6_000_000_000, 1000.0, &mut CgroupNames::default()).expect("parses");
        assert_eq!(e.end, EndKind::ClosedFirstPeerOpen);
    }

    #[test]
    fn the_cgroup2_mount_is_found_on_hybrid_and_unified_hosts() {
        let hybrid = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw\n\
                      41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup2_mount(hybrid).as_deref(),
            Some("/sys/fs/cgroup/unified")
        );
        let unified = "25 23 0:22 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup2_mount(unified).as_deref(), Some("/sys/fs/cgroup"));
        assert_eq!(cgroup2_mount("1 2 0:3 / /proc rw - proc proc rw\n"), None);
    }

    #[test]
    fn a_closer_of_no_side_is_none() {
        let raw = records::read::<tcpd_closer>(&closer_bytes(1, 2, 0, "x")).expect("parses");
        assert!(closer_of(&raw, 5, &mut CgroupNames::default()).is_none());
        assert!(records::read::<tcpd_closer>(&[0u8; 10]).is_none(), "short");
    }
}
