//! The census counted by walking the kernel's TCP hash tables from a BPF
//! program (`bpf/walk.bpf.c`), a range of buckets per run: it reads two
//! cache lines of each socket where iter/tcp locks it, so at scale it
//! runs in well under half the netlink dump's time. Counts are what
//! sock_diag reports, as with `census::IterCensus`, which stays the
//! fallback on kernels whose tables this program cannot find (before 6.1).

use super::counts::{StateCounts, read_counts, zero_counts};
// Slots of the tcpd_walk map (enum tcpd_walk_info).
use super::records::{
    self, TCPD_WALK_EHASH_BUCKETS as EHASH_BUCKETS, TCPD_WALK_INFO as INFO_SLOTS,
    TCPD_WALK_LHASH_BUCKETS as LHASH_BUCKETS, TCPD_WALK_LONG_CHAINS as LONG_CHAINS,
    TCPD_WALK_MOVED as MOVED, TCPD_WALK_UNREADABLE as UNREADABLE, tcpd_walk_args,
};
use super::{Unavailable, read_u64};
use libbpf_rs::{MapCore, MapFlags, Object};
use std::io;
use std::sync::{Mutex, OnceLock};

pub(super) static OBJECT: &[u8] = include_bytes!("../../../bpf/walk.bpf.o");

/// A run stops at the end of the chain that takes it past this many
/// sockets (~1.2 ms at ~300 ns each: a run holds its CPU with preemption
/// off), or after this many buckets when they are empty. Runs cost a
/// syscall each, ~250 for a million sockets: nothing measurable.
const SOCKETS_PER_RUN: u64 = 4096;
const BUCKETS_PER_RUN: u64 = 65_536;

/// What one walk found besides the counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalkReport {
    /// Buckets of the established table (the namespace's own, or the host's).
    pub buckets: u64,
    /// Chains whose end named another bucket: a socket moved while the
    /// walk stood on it, so a few sockets may be counted twice or missed,
    /// as in any dump of a busy table.
    pub moved: u64,
}

/// The loaded walk program, one walk at a time (the counts live in one map).
pub struct WalkCensus {
    obj: Object,
    lock: Mutex<()>,
}

impl WalkCensus {
    /// The program of this process, loaded on first use and kept.
    pub(crate) fn shared() -> Result<&'static WalkCensus, Unavailable> {
        static SHARED: OnceLock<Result<WalkCensus, Unavailable>> = OnceLock::new();
        super::load_once(&SHARED, WalkCensus::load)
    }

    pub fn load() -> Result<WalkCensus, Unavailable> {
        if std::env::var_os(super::DISABLE_WALK_ENV).is_some() {
            return Err(Unavailable(format!(
                "the hash walk is turned off by {}",
                super::DISABLE_WALK_ENV
            )));
        }
        let walk = WalkCensus {
            obj: super::load_object("hash-walk census", OBJECT)?,
            lock: Mutex::new(()),
        };
        // A first run proves the tables are where the program looks.
        walk.run(0, 0, 0)
            .map_err(|e| Unavailable(format!("the hash-walk census cannot run: {e}")))?;
        let buckets = read_u64(&walk.map("tcpd_walk").map_err(unavailable)?, EHASH_BUCKETS)
            .map_err(unavailable)?;
        if buckets == 0 {
            return Err(Unavailable(
                "the hash-walk census found no TCP hash table in this kernel".into(),
            ));
        }
        Ok(walk)
    }

    fn map(&self, name: &str) -> io::Result<libbpf_rs::Map<'_>> {
        super::map(&self.obj, name)
    }

    /// One run over at most `count` buckets of `table` (0 established, 1
    /// listening) from `first`; returns how many it walked.
    fn run(&self, table: u64, first: u64, count: u64) -> io::Result<u64> {
        let prog = self
            .obj
            .progs_mut()
            .find(|p| p.name() == "walk_tcp")
            .ok_or_else(|| io::Error::other("the walk object has no program walk_tcp"))?;
        let args = tcpd_walk_args {
            table,
            first,
            buckets: count,
            budget: SOCKETS_PER_RUN,
        };
        let mut ctx = [0u8; size_of::<tcpd_walk_args>()];
        ctx.copy_from_slice(records::bytes_of(&args));
        let input = libbpf_rs::ProgramInput {
            context_in: Some(&mut ctx),
            ..Default::default()
        };
        let out = prog.test_run(input).map_err(io::Error::other)?;
        Ok(u64::from(out.return_value))
    }

    /// Counts the TCP sockets of the calling thread's network namespace.
    pub fn count(&self) -> io::Result<(StateCounts, WalkReport)> {
        let _one_at_a_time = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let counts = self.map("tcpd_counts")?;
        let info = self.map("tcpd_walk")?;
        zero_counts(&counts)?;
        for k in 0..INFO_SLOTS {
            info.update(&k.to_ne_bytes(), &0u64.to_ne_bytes(), MapFlags::ANY)
                .map_err(io::Error::other)?;
        }
        // Sizes first: a namespace may have a table of its own.
        self.run(0, 0, 0)?;
        for (table, slot) in [(1, LHASH_BUCKETS), (0, EHASH_BUCKETS)] {
            let size = read_u64(&info, slot)?;
            let mut first = 0;
            while first < size {
                match self.run(table, first, BUCKETS_PER_RUN)? {
                    0 => return Err(io::Error::other(stuck(&info, first)?)),
                    walked => first += walked,
                }
            }
        }
        if read_u64(&info, LONG_CHAINS)? > 0 {
            return Err(io::Error::other(
                "a hash chain was longer than the walk follows",
            ));
        }
        if read_u64(&info, UNREADABLE)? > 0 {
            return Err(io::Error::other(
                "a socket in the TCP hash table could not be read",
            ));
        }
        let report = WalkReport {
            buckets: read_u64(&info, EHASH_BUCKETS)?,
            moved: read_u64(&info, MOVED)?,
        };
        Ok((read_counts(&counts)?, report))
    }
}

/// Why a run made no progress at bucket `first`.
fn stuck(info: &libbpf_rs::Map<'_>, first: u64) -> io::Result<String> {
    Ok(if read_u64(info, UNREADABLE)? > 0 {
        format!("bucket {first} of the TCP hash table could not be read")
    } else {
        format!("the walk made no progress at bucket {first}")
    })
}

fn unavailable(e: io::Error) -> Unavailable {
    Unavailable(format!("the hash-walk census cannot run: {e}"))
}
