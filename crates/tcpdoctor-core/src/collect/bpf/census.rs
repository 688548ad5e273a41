//! The census counted in the kernel: no socket crosses into userspace, so
//! it runs below the netlink dump's floor. `KernelCensus` picks the hash
//! walk (`super::walk`) where it runs, else the iter/tcp program here.
//! Counts are per family and per state as sock_diag reports them (a
//! TIME_WAIT minisocket's substate, a request socket as SYN_RECV).

use super::records::{TCPD_FAMILIES, TCPD_STATES as STATES};
use super::walk::WalkCensus;
use super::{Attached, Unavailable};
use crate::model::{Census, SourceUsed, StateSet, TcpState};
use libbpf_rs::{MapCore, MapFlags};
use std::io;
use std::sync::{Mutex, OnceLock};

pub(super) static OBJECT: &[u8] = include_bytes!("../../../bpf/census.bpf.o");

/// Sockets per state of one namespace, IPv4 and IPv6 apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateCounts {
    pub ipv4: [u64; STATES],
    pub ipv6: [u64; STATES],
}

impl StateCounts {
    /// Adds the counts of the selected families and states to `census`.
    pub fn add_to(&self, census: &mut Census, states: StateSet, ipv4: bool, ipv6: bool) {
        for s in TcpState::ALL {
            if !states.contains(s) {
                continue;
            }
            let k = s.kernel_number() as usize;
            let n = if ipv4 { self.ipv4[k] } else { 0 } + if ipv6 { self.ipv6[k] } else { 0 };
            if n > 0 {
                census.add_count(s, n);
            }
        }
    }
}

/// The census in the kernel this host allows: the hash walk, or iter/tcp
/// where the walk cannot find the kernel's tables (kernels before 6.1).
#[derive(Clone, Copy)]
pub(crate) enum KernelCensus {
    Walk(&'static WalkCensus),
    Iter(&'static IterCensus),
}

impl KernelCensus {
    /// The walk, else the iterator, loaded once per process; else why
    /// neither loads.
    pub(crate) fn shared() -> Result<KernelCensus, Unavailable> {
        match WalkCensus::shared() {
            Ok(w) => Ok(KernelCensus::Walk(w)),
            Err(walk_why) => IterCensus::shared()
                .map(KernelCensus::Iter)
                .map_err(|iter_why| {
                    if iter_why == walk_why {
                        iter_why
                    } else {
                        Unavailable(format!("{iter_why}; {walk_why}"))
                    }
                }),
        }
    }

    /// Counts the calling thread's network namespace, with notes. A walk
    /// that cannot finish (a chain longer than it follows) is done again
    /// by the iterator, saying so.
    pub(crate) fn count(&self) -> io::Result<(StateCounts, SourceUsed, Vec<String>)> {
        match self {
            KernelCensus::Iter(it) => Ok((it.count()?, SourceUsed::BpfIter, Vec::new())),
            KernelCensus::Walk(w) => match w.count() {
                Ok((counts, report)) => {
                    let notes = (report.moved > 0)
                        .then(|| {
                            format!(
                                "{} hash chains changed while they were counted (sockets \
                                 opening and closing): those counts may be off by a few",
                                report.moved
                            )
                        })
                        .into_iter()
                        .collect();
                    Ok((counts, SourceUsed::BpfWalk, notes))
                }
                Err(e) => {
                    let it = IterCensus::shared().map_err(|why| {
                        io::Error::other(format!("{e}, and iter/tcp is unavailable: {why}"))
                    })?;
                    let note = format!("counted by iter/tcp: the hash walk failed ({e})");
                    Ok((it.count()?, SourceUsed::BpfIter, vec![note]))
                }
            },
        }
    }
}

/// The loaded census program. One iteration at a time: the counts live in
/// one map.
pub struct IterCensus {
    attached: Attached,
    lock: Mutex<()>,
}

impl IterCensus {
    /// The program of this process, loaded on first use and kept: a
    /// refresh loop pays the load (and the verifier) once.
    pub(crate) fn shared() -> Result<&'static IterCensus, Unavailable> {
        static SHARED: OnceLock<Result<IterCensus, Unavailable>> = OnceLock::new();
        super::load_once(&SHARED, IterCensus::load)
    }

    pub fn load() -> Result<IterCensus, Unavailable> {
        Ok(IterCensus {
            attached: super::load("census", OBJECT, "count_tcp")?,
            lock: Mutex::new(()),
        })
    }

    /// Counts the TCP sockets of the calling thread's network namespace
    /// (an iterator belongs to the namespace of the thread that made it).
    pub fn count(&self) -> io::Result<StateCounts> {
        let _one_at_a_time = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let map = super::map(&self.attached.obj, "tcpd_counts")?;
        zero_counts(&map)?;
        super::drain_iter(&self.attached.link, |_| {})?;
        read_counts(&map)
    }
}

/// Zeroes a `tcpd_counts` map (per family and state) before a count.
pub(super) fn zero_counts(map: &libbpf_rs::Map<'_>) -> io::Result<()> {
    for i in 0..(TCPD_FAMILIES * STATES) as u32 {
        map.update(&i.to_ne_bytes(), &0u64.to_ne_bytes(), MapFlags::ANY)
            .map_err(io::Error::other)?;
    }
    Ok(())
}

/// Reads a `tcpd_counts` map: IPv4's states, then IPv6's.
pub(super) fn read_counts(map: &libbpf_rs::Map<'_>) -> io::Result<StateCounts> {
    let mut out = StateCounts::default();
    for i in 0..(TCPD_FAMILIES * STATES) as u32 {
        let v = super::read_u64(map, i)?;
        let (fam, state) = (i as usize / STATES, i as usize % STATES);
        if fam == 0 {
            out.ipv4[state] = v;
        } else {
            out.ipv6[state] = v;
        }
    }
    Ok(out)
}
