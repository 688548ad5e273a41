//! The census counted in the kernel: no socket crosses into userspace, so
//! it runs below the netlink dump's floor. `KernelCensus` picks the hash
//! walk (`super::walk`) where it runs, else the iter/tcp program here.
//! Counts are per family and per state as sock_diag reports them (a
//! TIME_WAIT minisocket's substate, a request socket as SYN_RECV).

pub use super::counts::StateCounts;
use super::counts::{read_counts, zero_counts};
use super::walk::WalkCensus;
use super::{Attached, Unavailable};
use crate::model::SourceUsed;
use std::io;
use std::sync::{Mutex, OnceLock};

pub(super) static OBJECT: &[u8] = include_bytes!("../../../bpf/census.bpf.o");

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
