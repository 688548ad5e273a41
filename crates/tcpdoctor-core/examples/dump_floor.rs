//! The floor for a census: the kernel's own sock_diag dump time. Sends the
//! same requests as `tcpdoctor census` and receives every reply, but only
//! walks netlink headers (to find NLMSG_DONE) and parses no socket.
//! Used by bench/census.sh: `dump_floor` prints the number of messages.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use tcpdoctor_core::collect::netlink::{Family, build_request};
use tcpdoctor_core::model::StateSet;

fn main() -> std::io::Result<()> {
    // SAFETY: plain socket(2); checked below.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 4) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut buf = vec![0u8; 64 * 1024];
    let mut messages = 0u64;
    let mode = std::env::args().nth(1).unwrap_or_default();
    let families: Vec<Family> = match mode.as_str() {
        "v4" => vec![Family::V4],
        "v6" => vec![Family::V6],
        _ => vec![Family::V4, Family::V6],
    };
    let reqs: Vec<Vec<u8>> = if mode == "compat" {
        // TCPDIAG_GETSOCK (18) + struct inet_diag_req: the kernel dumps both
        // families in one walk (sdiag_family = AF_UNSPEC).
        let mut r = vec![0u8; 16 + 60];
        r[0..4].copy_from_slice(&76u32.to_ne_bytes());
        r[4..6].copy_from_slice(&18u16.to_ne_bytes());
        r[6..8].copy_from_slice(&0x301u16.to_ne_bytes());
        r[8..12].copy_from_slice(&1u32.to_ne_bytes());
        r[16] = libc::AF_INET as u8;
        r[16 + 52..16 + 56].copy_from_slice(&StateSet::all().kernel_mask().to_ne_bytes());
        vec![r]
    } else {
        families
            .iter()
            .enumerate()
            .map(|(seq, f)| build_request(*f, StateSet::all(), false, seq as u32 + 1).to_vec())
            .collect()
    };
    for req in reqs {
        // SAFETY: sockaddr_nl zeroed is valid.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: valid pointers and lengths.
        let rc = unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                req.as_ptr().cast(),
                req.len(),
                0,
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        'recv: loop {
            // SAFETY: buf is valid for its length.
            let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n <= 0 {
                return Err(std::io::Error::last_os_error());
            }
            let mut off = 0usize;
            while off + 16 <= n as usize {
                let len = u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]])
                    as usize;
                let kind = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
                if kind == 3 || kind == 2 || len < 16 {
                    break 'recv;
                }
                messages += 1;
                off += (len + 3) & !3;
            }
        }
    }
    println!("{messages}");
    Ok(())
}
