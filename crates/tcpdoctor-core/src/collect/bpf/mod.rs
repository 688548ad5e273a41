//! eBPF sources, each optional: the census counted in the kernel
//! (`census`, iter/tcp), owners from the kernel's fd tables (`owners`,
//! iter/task_file), and who closed each connection (`closers`,
//! tp_btf/inet_sock_set_state). The programs are compiled once from
//! `crates/tcpdoctor-core/bpf/*.bpf.c` and embedded, so nothing is compiled
//! on the host; libbpf relocates their field accesses against the running
//! kernel's BTF. When one cannot be used (no BTF, no privilege, an old
//! kernel, a verifier refusal, lockdown), loading returns `Unavailable`
//! saying why, and the caller falls back to netlink or /proc with one note.

pub mod census;
pub mod closers;
pub(crate) mod counts;
pub mod owners;
mod records;
pub mod walk;

use libbpf_rs::{ErrorKind, Link, MapCore, Object, ObjectBuilder, PrintLevel};
use std::fmt;
use std::path::Path;
use std::sync::{Mutex, Once, OnceLock};

/// Why an eBPF source cannot be used on this host, in a few words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unavailable(pub String);

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unavailable {}

/// Set to any value, turns every eBPF source off (the fallback on demand).
const DISABLE_ENV: &str = "TCPDOCTOR_NO_BPF";

/// Set to any value, turns the hash-walk census off: the census in the
/// kernel is iter/tcp's. The walk reads the kernel's tables without their
/// locks, so a host where it misbehaves can be without it at once.
const DISABLE_WALK_ENV: &str = "TCPDOCTOR_NO_BPF_WALK";

/// libbpf's last warnings: the verifier's or loader's reason for a refusal,
/// kept for the note instead of being printed over the output.
static LIBBPF_LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn capture_libbpf(_level: PrintLevel, msg: String) {
    if let Ok(mut log) = LIBBPF_LOG.lock() {
        if log.len() >= 64 {
            log.remove(0);
        }
        log.push(msg.trim_end().to_string());
    }
}

fn quiet_libbpf() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        libbpf_rs::set_print(Some((PrintLevel::Warn, capture_libbpf)));
    });
}

/// The inode of the pid namespace /proc numbers processes in: that of its
/// pid 1 (the init of the namespace the proc mount belongs to), else this
/// process's own. The programs report pids in it, so that they match
/// /proc/PID even inside a container.
fn reader_pidns_ino() -> u32 {
    ["/proc/1/ns/pid", "/proc/self/ns/pid"]
        .iter()
        .find_map(|p| std::fs::metadata(p).ok())
        .map_or(0, |m| std::os::unix::fs::MetadataExt::ino(&m) as u32)
}

/// The same words whichever program was refused: a caller that tries two
/// (the census) says it once.
fn refused() -> Unavailable {
    Unavailable(
        "loading eBPF programs was refused: it needs CAP_BPF and CAP_PERFMON (or root), \
         and no kernel lockdown"
            .into(),
    )
}

/// Whether this process holds what loading a program takes: CAP_BPF with
/// CAP_PERFMON, or CAP_SYS_ADMIN (kernels before 5.8 know only that one).
/// True when the capabilities cannot be read: the kernel will say.
fn may_load_programs() -> bool {
    const CAP_SYS_ADMIN: u64 = 1 << 21;
    const CAP_PERFMON: u64 = 1 << 38;
    const CAP_BPF: u64 = 1 << 39;
    super::host::effective_capabilities().is_none_or(|caps| {
        caps & CAP_SYS_ADMIN != 0 || (caps & CAP_BPF != 0 && caps & CAP_PERFMON != 0)
    })
}

fn why(what: &str, e: &libbpf_rs::Error) -> Unavailable {
    if e.kind() == ErrorKind::PermissionDenied {
        return refused();
    }
    let detail = LIBBPF_LOG
        .lock()
        .ok()
        .and_then(|log| log.iter().rev().find(|l| !l.is_empty()).cloned())
        .unwrap_or_else(|| e.to_string());
    Unavailable(format!("the {what} program could not be loaded: {detail}"))
}

/// The program behind `cell`, loaded by `load` on first use and kept for
/// the process: a refresh loop pays the load (and the verifier) once, and
/// a host that refuses it is asked once.
fn load_once<T>(
    cell: &'static OnceLock<Result<T, Unavailable>>,
    load: fn() -> Result<T, Unavailable>,
) -> Result<&'static T, Unavailable> {
    cell.get_or_init(load).as_ref().map_err(Clone::clone)
}

/// A loaded object with its one program attached.
pub(crate) struct Attached {
    pub obj: Object,
    pub link: Link,
}

/// Opens an embedded object, tells it the reader's pid namespace,
/// loads it and attaches `program`. `what` names it in notes.
pub(crate) fn load(what: &str, bytes: &[u8], program: &str) -> Result<Attached, Unavailable> {
    let obj = load_object(what, bytes)?;
    let prog = obj
        .progs_mut()
        .find(|p| p.name() == program)
        .ok_or_else(|| Unavailable(format!("the {what} object has no program {program}")))?;
    let link = prog.attach().map_err(|e| why(what, &e))?;
    Ok(Attached { obj, link })
}

/// Opens an embedded object, tells it the reader's pid namespace and
/// loads it (the verifier runs here), attaching nothing.
fn load_object(what: &str, bytes: &[u8]) -> Result<Object, Unavailable> {
    if std::env::var_os(DISABLE_ENV).is_some() {
        return Err(Unavailable(format!("eBPF turned off by {DISABLE_ENV}")));
    }
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        return Err(Unavailable(
            "the kernel exposes no BTF (/sys/kernel/btf/vmlinux)".into(),
        ));
    }
    // Asked before libbpf reads the kernel's BTF (~5 ms a load): a census
    // tries two programs, and a process without the privilege would pay
    // for each refusal.
    if !may_load_programs() {
        return Err(refused());
    }
    quiet_libbpf();
    if let Ok(mut log) = LIBBPF_LOG.lock() {
        log.clear();
    }
    let mut open = ObjectBuilder::default()
        .open_memory(bytes)
        .map_err(|e| why(what, &e))?;
    let pidns = reader_pidns_ino();
    for mut m in open.maps_mut() {
        // Every object's read-only globals are records::rodata (its tests
        // check each object's .rodata against it).
        if m.name().to_string_lossy().ends_with(".rodata")
            && let Some(v) = m.initial_value_mut()
            && let Some(mut ro) = records::read::<records::rodata>(v)
        {
            ro.reader_pidns_ino = pidns;
            let ro = records::bytes_of(&ro);
            v[..ro.len()].copy_from_slice(ro);
        }
    }
    open.load().map_err(|e| why(what, &e))
}

/// The map `name` of a loaded object.
pub(crate) fn map<'a>(obj: &'a Object, name: &str) -> std::io::Result<libbpf_rs::Map<'a>> {
    obj.maps().find(|m| m.name() == name).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("the BPF object has no map {name}"),
        )
    })
}

/// Slot `key` of an array map of u64 (0 when absent).
fn read_u64(map: &libbpf_rs::Map<'_>, key: u32) -> std::io::Result<u64> {
    Ok(map
        .lookup(&key.to_ne_bytes(), libbpf_rs::MapFlags::ANY)
        .map_err(std::io::Error::other)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map_or(0, u64::from_ne_bytes))
}

/// The size of an iterator's output record (`struct tcpd_fd_record`).
const RECORD: usize = size_of::<records::tcpd_fd_record>();

/// An address as the programs write it: 16 bytes, the first 4 for IPv4.
fn ip_of(family: u16, raw: [u8; 16]) -> std::net::IpAddr {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    const AF_INET6: u16 = 10;
    if family == AF_INET6 {
        IpAddr::V6(Ipv6Addr::from(raw))
    } else {
        IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))
    }
}

/// Reads an iterator to its end, handing `each` whole records on a thread
/// of its own: the kernel fills the next chunk while the last one is
/// looked at (at 220k sockets the owner pass spends ~170 ms in the kernel
/// and ~100 ms on its records; one after the other they added up). At
/// most `CHUNKS` chunks of `CHUNK` bytes wait. A read may stop with EAGAIN
/// after about a million objects without output; the next read goes on
/// from there.
fn drain_iter(link: &Link, each: impl FnMut(&[u8]) + Send) -> std::io::Result<()> {
    use std::io::{ErrorKind, Read};
    use std::sync::mpsc;
    const CHUNK: usize = 256 << 10;
    const CHUNKS: usize = 4;
    let mut it = libbpf_rs::Iter::new(link).map_err(std::io::Error::other)?;
    let (full, to_look_at) = mpsc::sync_channel::<Vec<u8>>(CHUNKS);
    let (free, reusable) = mpsc::channel::<Vec<u8>>();
    std::thread::scope(|s| {
        let looker = s.spawn(move || {
            let mut each = each;
            for chunk in to_look_at {
                each(&chunk);
                // The reading side may be done: then nothing reuses it.
                let _ = free.send(chunk);
            }
        });
        let mut read = || -> std::io::Result<()> {
            let mut buf = vec![0u8; CHUNK];
            let mut filled = 0;
            loop {
                let n = match it.read(&mut buf[filled..]) {
                    Ok(n) => n,
                    Err(e)
                        if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) =>
                    {
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                filled += n;
                // Hand over the whole records when the chunk is nearly
                // full, and at the end.
                if n == 0 || CHUNK - filled < CHUNK / 8 {
                    let whole = filled / RECORD * RECORD;
                    let mut next = reusable.try_recv().unwrap_or_default();
                    next.clear();
                    next.resize(CHUNK, 0);
                    next[..filled - whole].copy_from_slice(&buf[whole..filled]);
                    buf.truncate(whole);
                    if full.send(std::mem::replace(&mut buf, next)).is_err() {
                        return Ok(()); // the looking side panicked
                    }
                    filled -= whole;
                }
                if n == 0 {
                    return Ok(());
                }
            }
        };
        let result = read();
        drop(full);
        match looker.join() {
            Ok(()) => result,
            Err(p) => std::panic::resume_unwind(p),
        }
    })
}
