//! TCP sockets over NETLINK_SOCK_DIAG (inet_diag), as `ss` gets them.
//!
//! Hand-written rather than built on netlink-packet-sock-diag: that crate
//! parses each reply into a heap-allocated list of attributes and formats an
//! error string for every attribute it does not know (two per socket on
//! 6.18). Parsing straight from the receive buffer into a stack `Socket` is
//! what lets a census stream millions of sockets with flat memory; the
//! numbers are in docs/benchmarks.md. The crate stays as the test oracle.
//!
//! Layouts: include/uapi/linux/netlink.h, sock_diag.h, inet_diag.h, tcp.h.

use crate::model::{Endpoint, Socket, StateSet, TcpInfo, TcpState, Timer};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NETLINK_SOCK_DIAG: libc::c_int = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// The original inet_diag request type. Its dump walks the socket table once
/// for both families (the kernel sets sdiag_family = AF_UNSPEC), where
/// SOCK_DIAG_BY_FAMILY needs one walk per family: 8% less kernel time at
/// 220k sockets (docs/benchmarks.md).
const TCPDIAG_GETSOCK: u16 = 18;
const INET_DIAG_REQ_COMPAT_LEN: usize = 60;
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_DUMP_INTR: u16 = 0x10;
const NLMSG_HDRLEN: usize = 16;
const INET_DIAG_REQ_V2_LEN: usize = 56;
const INET_DIAG_MSG_LEN: usize = 72;
const INET_DIAG_INFO: u16 = 2;
/// Attribute types carry two flag bits (nested, byte order) above the type.
const NLA_TYPE_MASK: u16 = 0x3fff;
/// The kernel fills dump replies of at most 32 KiB (netlink_dump caps
/// max_recvmsg_len there); twice that leaves room and never truncates.
const RECV_BUF_LEN: usize = 64 * 1024;

/// Address family of a dump. `Both` uses the TCPDIAG_GETSOCK request,
/// which returns IPv4 and IPv6 sockets from one walk of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
    Both,
}

impl Family {
    fn af(self) -> u8 {
        match self {
            Family::V4 | Family::Both => libc::AF_INET as u8,
            Family::V6 => libc::AF_INET6 as u8,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
            Family::Both => "IPv4+IPv6",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    // The OS error is in the message, not a `source` (see crate::error).
    #[error("opening a NETLINK_SOCK_DIAG socket: {0}")]
    Open(io::Error),
    #[error("sending the dump request: {0}")]
    Send(io::Error),
    #[error("receiving the dump: {0}")]
    Recv(io::Error),
    #[error("the kernel answered the {family} TCP dump with an error: {cause}")]
    Kernel {
        family: &'static str,
        cause: io::Error,
    },
    #[error("malformed reply at byte {offset}: {what}")]
    Malformed { offset: usize, what: &'static str },
    #[error("a reply of {len} bytes did not fit the {cap}-byte receive buffer")]
    Truncated { len: usize, cap: usize },
}

/// What one receive buffer held besides sockets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkOutcome {
    /// NLMSG_DONE was seen: the dump is complete.
    pub done: bool,
    /// The kernel flagged the dump as inconsistent (NLM_F_DUMP_INTR): the
    /// table changed while it was walked, so the caller should retry.
    pub interrupted: bool,
    /// inet_diag messages in the buffer (sockets, including skipped ones).
    pub messages: usize,
}

fn ne_u16(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn ne_u32(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Parses one receive buffer of a dump reply, calling `on_socket` for every
/// TCP socket in it. Pure: tests feed it captured bytes. Messages whose
/// sequence number is not `seq` (when given) belong to nobody's request and
/// are skipped.
pub fn parse_chunk<F: FnMut(&Socket)>(
    buf: &[u8],
    family: Family,
    seq: Option<u32>,
    on_socket: &mut F,
) -> Result<ChunkOutcome, NetlinkError> {
    let mut out = ChunkOutcome::default();
    let mut off = 0;
    while off < buf.len() {
        if buf.len() - off < NLMSG_HDRLEN {
            return Err(NetlinkError::Malformed {
                offset: off,
                what: "fewer bytes left than a netlink header",
            });
        }
        let start = off;
        let len = ne_u32(buf, off) as usize;
        let kind = ne_u16(buf, off + 4);
        let flags = ne_u16(buf, off + 6);
        let msg_seq = ne_u32(buf, off + 8);
        if len < NLMSG_HDRLEN || len > buf.len() - off {
            return Err(NetlinkError::Malformed {
                offset: off,
                what: "netlink message length out of bounds",
            });
        }
        let payload = &buf[off + NLMSG_HDRLEN..off + len];
        off += align4(len).min(buf.len() - off);
        if seq.is_some_and(|s| s != msg_seq) {
            continue;
        }
        if flags & NLM_F_DUMP_INTR != 0 {
            out.interrupted = true;
        }
        match kind {
            NLMSG_NOOP => {}
            NLMSG_DONE => {
                // The payload is an int: 0, or a negative errno when the dump
                // failed part way.
                if payload.len() >= 4 {
                    let code = ne_u32(payload, 0) as i32;
                    if code < 0 {
                        return Err(NetlinkError::Kernel {
                            family: family.name(),
                            // saturating: i32::MIN has no negation (found by fuzzing).
                            cause: io::Error::from_raw_os_error(code.saturating_neg()),
                        });
                    }
                }
                out.done = true;
                return Ok(out);
            }
            NLMSG_ERROR => {
                if payload.len() < 4 {
                    return Err(NetlinkError::Malformed {
                        offset: start,
                        what: "NLMSG_ERROR without an error code",
                    });
                }
                let code = ne_u32(payload, 0) as i32;
                if code != 0 {
                    return Err(NetlinkError::Kernel {
                        family: family.name(),
                        cause: io::Error::from_raw_os_error(code.saturating_neg()),
                    });
                }
            }
            SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK => {
                out.messages += 1;
                if let Some(sock) =
                    parse_inet_diag_msg(payload).map_err(|what| NetlinkError::Malformed {
                        offset: start,
                        what,
                    })?
                {
                    on_socket(&sock);
                }
            }
            // Any other type is not ours to read; its length lets us skip it.
            _ => {}
        }
    }
    Ok(out)
}

/// Parses one `struct inet_diag_msg` and its attributes. Returns None for a
/// state this build does not know (newer kernels may add some).
fn parse_inet_diag_msg(p: &[u8]) -> Result<Option<Socket>, &'static str> {
    if p.len() < INET_DIAG_MSG_LEN {
        return Err("inet_diag_msg shorter than 72 bytes");
    }
    let Some(state) = TcpState::from_kernel(p[1]) else {
        return Ok(None);
    };
    let (local_ip, remote_ip) = match p[0] as i32 {
        libc::AF_INET => (
            IpAddr::V4(Ipv4Addr::new(p[8], p[9], p[10], p[11])),
            IpAddr::V4(Ipv4Addr::new(p[24], p[25], p[26], p[27])),
        ),
        libc::AF_INET6 => {
            let mut src = [0u8; 16];
            let mut dst = [0u8; 16];
            src.copy_from_slice(&p[8..24]);
            dst.copy_from_slice(&p[24..40]);
            (
                IpAddr::V6(Ipv6Addr::from(src)),
                IpAddr::V6(Ipv6Addr::from(dst)),
            )
        }
        _ => return Err("inet_diag_msg with a family other than AF_INET/AF_INET6"),
    };
    let local = Endpoint::new(local_ip, u16::from_be_bytes([p[4], p[5]]));
    let remote = Endpoint::new(remote_ip, u16::from_be_bytes([p[6], p[7]]));
    let cookie = u64::from(ne_u32(p, 44)) | (u64::from(ne_u32(p, 48)) << 32);
    let mut sock = Socket {
        state,
        local,
        remote,
        recv_q: ne_u32(p, 56),
        send_q: ne_u32(p, 60),
        timer: Timer::from_kernel(p[2]),
        timer_ms: ne_u32(p, 52),
        retransmits: p[3],
        uid: ne_u32(p, 64),
        inode: u64::from(ne_u32(p, 68)),
        cookie: Some(cookie),
        info: None,
    };
    let mut off = INET_DIAG_MSG_LEN;
    while p.len() - off >= 4 {
        let rta_len = ne_u16(p, off) as usize;
        let rta_type = ne_u16(p, off + 2) & NLA_TYPE_MASK;
        if rta_len < 4 || rta_len > p.len() - off {
            return Err("attribute length out of bounds");
        }
        if rta_type == INET_DIAG_INFO {
            sock.info = Some(Box::new(parse_tcp_info(&p[off + 4..off + rta_len])));
        }
        // Unknown attributes (SHUTDOWN, CGROUP_ID, SOCKOPT, ...) are skipped
        // by their length.
        off += align4(rta_len);
        if off > p.len() {
            break;
        }
    }
    Ok(Some(sock))
}

/// Parses `struct tcp_info`, however long the kernel made it: fields it did
/// not send stay zero and `len` records how much it did.
pub fn parse_tcp_info(b: &[u8]) -> TcpInfo {
    let u8_at = |at: usize| b.get(at).copied().unwrap_or(0);
    let u32_at = |at: usize| {
        b.get(at..at + 4)
            .map(|s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
            .unwrap_or(0)
    };
    let u64_at = |at: usize| {
        b.get(at..at + 8)
            .map(|s| u64::from_ne_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]))
            .unwrap_or(0)
    };
    TcpInfo {
        len: b.len().min(u16::MAX as usize) as u16,
        state: u8_at(0),
        ca_state: u8_at(1),
        retransmits: u8_at(2),
        probes: u8_at(3),
        backoff: u8_at(4),
        options: u8_at(5),
        rto_us: u32_at(8),
        ato_us: u32_at(12),
        snd_mss: u32_at(16),
        rcv_mss: u32_at(20),
        unacked: u32_at(24),
        sacked: u32_at(28),
        lost: u32_at(32),
        retrans: u32_at(36),
        last_data_sent_ms: u32_at(44),
        last_ack_sent_ms: u32_at(48),
        last_data_recv_ms: u32_at(52),
        last_ack_recv_ms: u32_at(56),
        pmtu: u32_at(60),
        rcv_ssthresh: u32_at(64),
        rtt_us: u32_at(68),
        rttvar_us: u32_at(72),
        snd_ssthresh: u32_at(76),
        snd_cwnd: u32_at(80),
        advmss: u32_at(84),
        reordering: u32_at(88),
        rcv_rtt_us: u32_at(92),
        rcv_space: u32_at(96),
        total_retrans: u32_at(100),
        bytes_acked: u64_at(120),
        bytes_received: u64_at(128),
        segs_out: u32_at(136),
        segs_in: u32_at(140),
        notsent_bytes: u32_at(144),
        min_rtt_us: u32_at(148),
    }
}

/// Builds the dump request: `nlmsghdr` + `inet_diag_req_v2` for one
/// family, or + the older `inet_diag_req` (TCPDIAG_GETSOCK) for both.
pub fn build_request(family: Family, states: StateSet, tcp_info: bool, seq: u32) -> Vec<u8> {
    // idiag_ext: bit N-1 asks for attribute N.
    let ext = if tcp_info {
        1 << (INET_DIAG_INFO - 1)
    } else {
        0
    };
    let (kind, body_len) = match family {
        Family::Both => (TCPDIAG_GETSOCK, INET_DIAG_REQ_COMPAT_LEN),
        _ => (SOCK_DIAG_BY_FAMILY, INET_DIAG_REQ_V2_LEN),
    };
    let mut req = vec![0u8; NLMSG_HDRLEN + body_len];
    let len = req.len() as u32;
    req[0..4].copy_from_slice(&len.to_ne_bytes());
    req[4..6].copy_from_slice(&kind.to_ne_bytes());
    req[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req[8..12].copy_from_slice(&seq.to_ne_bytes());
    // nlmsg_pid 0: the kernel fills in our port id.
    let b = &mut req[NLMSG_HDRLEN..];
    b[0] = family.af();
    if family == Family::Both {
        // inet_diag_req: family, src_len, dst_len, ext, id (48), states, dbs.
        b[3] = ext;
        b[52..56].copy_from_slice(&states.kernel_mask().to_ne_bytes());
    } else {
        // inet_diag_req_v2: family, protocol, ext, pad, states, id (48).
        b[1] = libc::IPPROTO_TCP as u8;
        b[2] = ext;
        b[4..8].copy_from_slice(&states.kernel_mask().to_ne_bytes());
    }
    // The socket id stays zero: a dump matches every socket.
    req
}

/// A NETLINK_SOCK_DIAG socket and its receive buffer, reused across dumps.
pub struct Dumper {
    fd: OwnedFd,
    buf: Vec<u8>,
    seq: u32,
    /// When set, every receive buffer is appended here (for fixtures).
    pub record: Option<Vec<Vec<u8>>>,
}

impl Dumper {
    pub fn open() -> Result<Dumper, NetlinkError> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                NETLINK_SOCK_DIAG,
            )
        };
        if fd < 0 {
            return Err(NetlinkError::Open(io::Error::last_os_error()));
        }
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Dumper {
            fd,
            buf: vec![0; RECV_BUF_LEN],
            seq: 0,
            record: None,
        })
    }

    /// Dumps one address family, calling `on_socket` for each socket.
    /// Returns whether the kernel flagged the dump as interrupted.
    pub fn dump<F: FnMut(&Socket)>(
        &mut self,
        family: Family,
        states: StateSet,
        tcp_info: bool,
        on_socket: &mut F,
    ) -> Result<bool, NetlinkError> {
        self.seq = self.seq.wrapping_add(1);
        let req = build_request(family, states, tcp_info, self.seq);
        // SAFETY: sockaddr_nl is plain data; zeroed is a valid value.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        loop {
            // SAFETY: req and addr outlive the call; lengths are theirs.
            let n = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    req.as_ptr().cast(),
                    req.len(),
                    0,
                    (&addr as *const libc::sockaddr_nl).cast(),
                    std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            if n >= 0 {
                break;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(NetlinkError::Send(e));
            }
        }
        let mut interrupted = false;
        loop {
            // MSG_TRUNC makes recv return the real length of the datagram,
            // so a reply larger than the buffer is detected, not cut.
            // SAFETY: buf is valid for buf.len() bytes.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(NetlinkError::Recv(e));
            }
            let n = n as usize;
            if n > self.buf.len() {
                return Err(NetlinkError::Truncated {
                    len: n,
                    cap: self.buf.len(),
                });
            }
            let chunk = &self.buf[..n];
            if let Some(rec) = self.record.as_mut() {
                rec.push(chunk.to_vec());
            }
            let out = parse_chunk(chunk, family, Some(self.seq), on_socket)?;
            interrupted |= out.interrupted;
            if out.done {
                return Ok(interrupted);
            }
            if n == 0 {
                return Err(NetlinkError::Malformed {
                    offset: 0,
                    what: "empty reply before NLMSG_DONE",
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
