//! What both in-kernel censuses (the hash walk and iter/tcp) count into:
//! a `tcpd_counts` map, per family and state, and the counts read back.

use super::records::{TCPD_FAMILIES, TCPD_STATES as STATES};
use crate::model::{Census, StateSet, TcpState};
use libbpf_rs::{MapCore, MapFlags};
use std::io;

/// Sockets per state of one namespace, IPv4 and IPv6 apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateCounts {
    pub ipv4: [u64; STATES],
    pub ipv6: [u64; STATES],
}

impl StateCounts {
    /// The count of `state` in the selected families.
    pub fn get(&self, state: TcpState, ipv4: bool, ipv6: bool) -> u64 {
        let k = state.kernel_number() as usize;
        let v4 = if ipv4 { self.ipv4[k] } else { 0 };
        v4 + if ipv6 { self.ipv6[k] } else { 0 }
    }

    /// Adds the counts of the selected families and states to `census`.
    pub fn add_to(&self, census: &mut Census, states: StateSet, ipv4: bool, ipv6: bool) {
        for s in TcpState::ALL {
            if !states.contains(s) {
                continue;
            }
            let n = self.get(s, ipv4, ipv6);
            if n > 0 {
                census.add_count(s, n);
            }
        }
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
