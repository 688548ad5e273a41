//! The census counted in the kernel by an iter/tcp program: no socket
//! crosses into userspace, so it runs below the netlink dump's floor.
//! Counts are per family and per state as sock_diag reports them (a
//! TIME_WAIT minisocket's substate, a request socket as SYN_RECV).

use super::{Attached, Unavailable};
use crate::model::{Census, StateSet, TcpState};
use libbpf_rs::{MapCore, MapFlags};
use std::io;
use std::sync::{Mutex, OnceLock};

static OBJECT: &[u8] = include_bytes!("../../../bpf/census.bpf.o");
const STATES: usize = 16;

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

/// The loaded census program. One iteration at a time: the counts live in
/// one map.
pub struct IterCensus {
    attached: Attached,
    lock: Mutex<()>,
}

impl IterCensus {
    /// The program of this process, loaded on first use and kept: a
    /// refresh loop pays the load (and the verifier) once.
    pub fn shared() -> Result<&'static IterCensus, Unavailable> {
        static SHARED: OnceLock<Result<IterCensus, Unavailable>> = OnceLock::new();
        SHARED
            .get_or_init(IterCensus::load)
            .as_ref()
            .map_err(Clone::clone)
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
        let slots = 2 * STATES as u32;
        for i in 0..slots {
            map.update(&i.to_ne_bytes(), &0u64.to_ne_bytes(), MapFlags::ANY)
                .map_err(io::Error::other)?;
        }
        super::drain_iter(&self.attached.link, |_| {})?;
        let mut out = StateCounts::default();
        for i in 0..slots {
            let v = map
                .lookup(&i.to_ne_bytes(), MapFlags::ANY)
                .map_err(io::Error::other)?
                .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
                .map_or(0, u64::from_ne_bytes);
            let (fam, state) = (i as usize / STATES, i as usize % STATES);
            if fam == 0 {
                out.ipv4[state] = v;
            } else {
                out.ipv6[state] = v;
            }
        }
        Ok(out)
    }
}
