//! TCP states as Linux numbers them (include/net/tcp_states.h), with the names
//! netstat and ss print.

use serde::{Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A TCP socket state. The discriminants are the kernel's numbers, which both
/// sock_diag and /proc/net/tcp report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TcpState {
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait1 = 4,
    FinWait2 = 5,
    TimeWait = 6,
    Close = 7,
    CloseWait = 8,
    LastAck = 9,
    Listen = 10,
    Closing = 11,
}

impl TcpState {
    /// Every state, in kernel order.
    pub const ALL: [TcpState; 11] = [
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::Closing,
    ];

    /// Maps a kernel state number. TCP_NEW_SYN_RECV (12, a request socket)
    /// is what a SYN_RECV connection is inside the kernel, so it maps to
    /// SynRecv, as ss and /proc/net/tcp show it.
    pub fn from_kernel(n: u8) -> Option<TcpState> {
        Some(match n {
            1 => TcpState::Established,
            2 => TcpState::SynSent,
            3 | 12 => TcpState::SynRecv,
            4 => TcpState::FinWait1,
            5 => TcpState::FinWait2,
            6 => TcpState::TimeWait,
            7 => TcpState::Close,
            8 => TcpState::CloseWait,
            9 => TcpState::LastAck,
            10 => TcpState::Listen,
            11 => TcpState::Closing,
            _ => return None,
        })
    }

    pub fn kernel_number(self) -> u8 {
        self as u8
    }

    /// The name netstat prints (and tcpdoctor's JSON uses).
    pub fn netstat_name(self) -> &'static str {
        match self {
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait1 => "FIN_WAIT1",
            TcpState::FinWait2 => "FIN_WAIT2",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::Closing => "CLOSING",
        }
    }

    /// The name `ss` prints in its State column.
    pub fn ss_name(self) -> &'static str {
        match self {
            TcpState::Established => "ESTAB",
            TcpState::SynSent => "SYN-SENT",
            TcpState::SynRecv => "SYN-RECV",
            TcpState::FinWait1 => "FIN-WAIT-1",
            TcpState::FinWait2 => "FIN-WAIT-2",
            TcpState::TimeWait => "TIME-WAIT",
            TcpState::Close => "UNCONN",
            TcpState::CloseWait => "CLOSE-WAIT",
            TcpState::LastAck => "LAST-ACK",
            TcpState::Listen => "LISTEN",
            TcpState::Closing => "CLOSING",
        }
    }

    /// Bit of this state in a sock_diag `idiag_states` mask.
    fn mask_bit(self) -> u32 {
        1u32 << (self as u8)
    }
}

impl TcpState {
    /// The exact netstat or ss spelling, without allocating: the hot path
    /// of dump parsing. Other spellings go through `FromStr`.
    pub(crate) fn from_exact_name(b: &[u8]) -> Option<TcpState> {
        Some(match b {
            b"ESTAB" | b"ESTABLISHED" => TcpState::Established,
            b"TIME-WAIT" | b"TIME_WAIT" => TcpState::TimeWait,
            b"LISTEN" => TcpState::Listen,
            b"CLOSE-WAIT" | b"CLOSE_WAIT" => TcpState::CloseWait,
            b"FIN-WAIT-2" | b"FIN_WAIT2" => TcpState::FinWait2,
            b"FIN-WAIT-1" | b"FIN_WAIT1" => TcpState::FinWait1,
            b"SYN-SENT" | b"SYN_SENT" => TcpState::SynSent,
            b"SYN-RECV" | b"SYN_RECV" => TcpState::SynRecv,
            b"LAST-ACK" | b"LAST_ACK" => TcpState::LastAck,
            b"CLOSING" => TcpState::Closing,
            b"UNCONN" | b"CLOSE" => TcpState::Close,
            _ => return None,
        })
    }

    /// Exact names fast, any other accepted spelling the slow way.
    pub(crate) fn parse_name(s: &str) -> Option<TcpState> {
        TcpState::from_exact_name(s.as_bytes()).or_else(|| s.parse().ok())
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.netstat_name())
    }
}

impl<'de> serde::Deserialize<'de> for TcpState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for TcpState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.netstat_name())
    }
}

/// The error for a state name that is none of netstat's or ss's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown TCP state '{0}': expected a netstat or ss name such as ESTABLISHED, time-wait, \
        CLOSE_WAIT, fin-wait-2, syn-recv, listen"
)]
pub struct UnknownState(pub String);

impl FromStr for TcpState {
    type Err = UnknownState;

    /// Accepts netstat names (TIME_WAIT), ss names (TIME-WAIT, ESTAB) and ss
    /// filter names (time-wait, listening), in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        Ok(match norm.as_str() {
            "established" | "estab" => TcpState::Established,
            "synsent" => TcpState::SynSent,
            "synrecv" | "synreceived" => TcpState::SynRecv,
            "finwait1" => TcpState::FinWait1,
            "finwait2" => TcpState::FinWait2,
            "timewait" => TcpState::TimeWait,
            "close" | "closed" | "unconn" => TcpState::Close,
            "closewait" => TcpState::CloseWait,
            "lastack" => TcpState::LastAck,
            "listen" | "listening" => TcpState::Listen,
            "closing" => TcpState::Closing,
            _ => return Err(UnknownState(s.to_string())),
        })
    }
}

/// A set of states, as the kernel's bitmask: bit N is state N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateSet(u32);

impl StateSet {
    pub const fn empty() -> StateSet {
        StateSet(0)
    }

    pub fn all() -> StateSet {
        TcpState::ALL.iter().copied().collect()
    }

    pub fn contains(self, s: TcpState) -> bool {
        self.0 & s.mask_bit() != 0
    }

    pub(crate) fn insert(&mut self, s: TcpState) {
        self.0 |= s.mask_bit();
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub(crate) fn is_all(self) -> bool {
        self == StateSet::all()
    }

    /// The mask to send to the kernel. A SYN_RECV connection is a request
    /// socket in state TCP_NEW_SYN_RECV (12) inside the kernel, so asking for
    /// SYN_RECV sets that bit too.
    pub fn kernel_mask(self) -> u32 {
        let mut m = self.0;
        if self.contains(TcpState::SynRecv) {
            m |= 1 << 12;
        }
        m
    }

    pub fn iter(self) -> impl Iterator<Item = TcpState> {
        TcpState::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl FromIterator<TcpState> for StateSet {
    fn from_iter<I: IntoIterator<Item = TcpState>>(iter: I) -> Self {
        let mut set = StateSet::empty();
        for s in iter {
            set.insert(s);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_netstat_ss_and_filter_names_in_any_case() {
        for s in TcpState::ALL {
            assert_eq!(s.netstat_name().parse::<TcpState>(), Ok(s));
            assert_eq!(s.ss_name().parse::<TcpState>(), Ok(s));
            assert_eq!(s.netstat_name().to_lowercase().parse::<TcpState>(), Ok(s));
        }
        assert_eq!("close-wait".parse::<TcpState>(), Ok(TcpState::CloseWait));
        assert_eq!("Fin-Wait-2".parse::<TcpState>(), Ok(TcpState::FinWait2));
        assert_eq!("listening".parse::<TcpState>(), Ok(TcpState::Listen));
        assert!("half-open".parse::<TcpState>().is_err());
        assert!("".parse::<TcpState>().is_err());
    }

    #[test]
    fn kernel_numbers_round_trip_and_new_syn_recv_is_syn_recv() {
        for s in TcpState::ALL {
            assert_eq!(TcpState::from_kernel(s.kernel_number()), Some(s));
        }
        assert_eq!(TcpState::from_kernel(12), Some(TcpState::SynRecv));
        assert_eq!(TcpState::from_kernel(0), None);
        assert_eq!(TcpState::from_kernel(13), None);
    }

    #[test]
    fn syn_recv_mask_includes_request_sockets() {
        let set: StateSet = [TcpState::SynRecv].into_iter().collect();
        assert_eq!(set.kernel_mask(), (1 << 3) | (1 << 12));
        assert_eq!(StateSet::all().iter().count(), 11);
    }
}
