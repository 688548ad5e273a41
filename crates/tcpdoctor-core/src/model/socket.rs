//! One TCP socket as the kernel reports it. A `Socket` owns no heap memory
//! unless it carries tcp_info (boxed: most sockets never do, and a listing
//! of millions moves them around), so collectors can stream millions of
//! them through a callback without allocating.

use super::TcpState;
use serde::{Serialize, Serializer};
use std::fmt;
use std::net::IpAddr;

/// An IP address and port. Displays as `ip:port`, IPv6 as `[addr]:port`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

impl Endpoint {
    #[cfg(test)]
    pub(super) const UNSPECIFIED_V4: Endpoint = Endpoint {
        ip: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        port: 0,
    };

    pub fn new(ip: IpAddr, port: u16) -> Endpoint {
        Endpoint { ip, port }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
        }
    }
}

impl std::str::FromStr for Endpoint {
    type Err = String;
    /// "1.2.3.4:80" or "[::1]:80".
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not ip:port or [ipv6]:port");
        let (ip, port) = s.rsplit_once(':').ok_or_else(bad)?;
        let ip = ip
            .strip_prefix('[')
            .and_then(|i| i.strip_suffix(']'))
            .unwrap_or(ip);
        Ok(Endpoint::new(
            ip.parse().map_err(|_| bad())?,
            port.parse().map_err(|_| bad())?,
        ))
    }
}

impl<'de> serde::Deserialize<'de> for Endpoint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Endpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The timer the kernel has armed on a socket (`idiag_timer`, or the `tr`
/// column of /proc/net/tcp).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    None,
    Retransmit,
    KeepAlive,
    TimeWait,
    ZeroWindowProbe,
    /// A code this build does not know; kept rather than guessed.
    Other(u8),
}

impl Timer {
    pub(crate) fn from_kernel(code: u8) -> Timer {
        match code {
            0 => Timer::None,
            1 => Timer::Retransmit,
            2 => Timer::KeepAlive,
            3 => Timer::TimeWait,
            4 => Timer::ZeroWindowProbe,
            n => Timer::Other(n),
        }
    }
}

/// The fields of the kernel's `struct tcp_info` that tcpdoctor uses.
///
/// Older kernels send a shorter struct: fields past `len` bytes were not
/// sent and are zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TcpInfo {
    /// How many bytes of tcp_info the kernel sent.
    pub len: u16,
    pub state: u8,
    pub ca_state: u8,
    pub retransmits: u8,
    pub probes: u8,
    pub backoff: u8,
    pub options: u8,
    pub rto_us: u32,
    pub ato_us: u32,
    pub snd_mss: u32,
    pub rcv_mss: u32,
    pub unacked: u32,
    pub sacked: u32,
    pub lost: u32,
    pub retrans: u32,
    pub last_data_sent_ms: u32,
    pub last_ack_sent_ms: u32,
    pub last_data_recv_ms: u32,
    pub last_ack_recv_ms: u32,
    pub pmtu: u32,
    pub rcv_ssthresh: u32,
    pub rtt_us: u32,
    pub rttvar_us: u32,
    pub snd_ssthresh: u32,
    pub snd_cwnd: u32,
    pub advmss: u32,
    pub reordering: u32,
    pub rcv_rtt_us: u32,
    pub rcv_space: u32,
    pub total_retrans: u32,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub segs_out: u32,
    pub segs_in: u32,
    pub notsent_bytes: u32,
    pub min_rtt_us: u32,
}

impl TcpInfo {
    /// Byte offsets just past each field in `struct tcp_info`
    /// (include/uapi/linux/tcp.h).
    pub(crate) const END_LAST_ACK_RECV: u16 = 60;
    #[cfg(test)]
    pub(crate) const END_BYTES_RECEIVED: u16 = 136;

    /// Whether the kernel sent the bytes of a field that ends at `end`.
    #[cfg(test)]
    pub(crate) fn has_field(&self, end: u16) -> bool {
        self.len >= end
    }
}

/// One TCP socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Socket {
    pub state: TcpState,
    pub local: Endpoint,
    pub remote: Endpoint,
    /// Bytes received and not yet read; for LISTEN, the accept queue length.
    pub recv_q: u32,
    /// Bytes sent and not yet acknowledged; for LISTEN, the backlog.
    pub send_q: u32,
    pub timer: Timer,
    /// Time left on `timer`, in milliseconds (0 when no timer is armed).
    pub timer_ms: u32,
    /// Retransmissions or probes of the current timer.
    pub retransmits: u8,
    pub uid: u32,
    /// 0 for sockets without a file: TIME_WAIT, and connections still in an
    /// accept queue.
    pub inode: u64,
    /// The kernel's socket cookie (stable for the socket's life); /proc does
    /// not show it.
    pub cookie: Option<u64>,
    /// Present only when asked for (sock_diag INET_DIAG_INFO).
    pub info: Option<Box<TcpInfo>>,
}

impl Socket {
    /// A socket in `state` between two endpoints, with every other field
    /// empty; collectors fill in the rest.
    pub fn new(state: TcpState, local: Endpoint, remote: Endpoint) -> Socket {
        Socket {
            state,
            local,
            remote,
            recv_q: 0,
            send_q: 0,
            timer: Timer::None,
            timer_ms: 0,
            retransmits: 0,
            uid: 0,
            inode: 0,
            cookie: None,
            info: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn endpoints_display_like_ss_with_brackets_for_ipv6() {
        let v4 = Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 443);
        assert_eq!(v4.to_string(), "10.0.0.1:443");
        let v6 = Endpoint::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 8080);
        assert_eq!(v6.to_string(), "[::1]:8080");
        assert_eq!(
            serde_json::to_string(&v6).expect("serializes"),
            "\"[::1]:8080\""
        );
    }

    #[test]
    fn tcp_info_field_presence_follows_length() {
        let old = TcpInfo {
            len: 104,
            ..TcpInfo::default()
        };
        assert!(old.has_field(TcpInfo::END_LAST_ACK_RECV));
        assert!(!old.has_field(TcpInfo::END_BYTES_RECEIVED));
    }
}
