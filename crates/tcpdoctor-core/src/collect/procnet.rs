//! /proc/net/tcp and /proc/net/tcp6: the fallback when sock_diag is not
//! available, and the format of raw dumps people hand us.
//!
//! Each line (net/ipv4/tcp_ipv4.c, get_tcp4_sock / get_timewait4_sock /
//! get_openreq4):
//! `sl local rem st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...`
//! Addresses are the raw `__be32` words printed as native-endian hex, so
//! they are decoded with the host's byte order; ports are plain hex.

use crate::error::{Error, Result};
use crate::model::{Endpoint, Socket, StateSet, TcpState, Timer};
use std::io::{BufRead, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// USER_HZ: /proc reports timer ticks in clock_t units of 10 ms.
const MS_PER_CLOCK_TICK: u32 = 10;

/// Why a line is not a /proc/net/tcp socket line.
pub(crate) const EXPECTED_LINE: &str = "a /proc/net/tcp line: 'sl: local:port remote:port st tx:rx \
    tr:when retrnsmt uid timeout inode'";

fn hex_u32(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 8 {
        return None;
    }
    let mut v: u32 = 0;
    for &c in s {
        v = (v << 4) | (c as char).to_digit(16)?;
    }
    Some(v)
}

fn dec_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

fn split2(s: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|&c| c == sep)?;
    Some((&s[..i], &s[i + 1..]))
}

fn parse_endpoint(s: &[u8]) -> Option<Endpoint> {
    let (addr, port) = split2(s, b':')?;
    let port = u16::try_from(hex_u32(port)?).ok()?;
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(hex_u32(addr)?.to_ne_bytes())),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, word) in addr.chunks(8).enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&hex_u32(word)?.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(Endpoint::new(ip, port))
}

/// Parses one socket line (not the header). None when it is not one.
pub fn parse_line(line: &[u8]) -> Option<Socket> {
    let mut f = line
        .split(|c| c.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    let sl = f.next()?;
    if sl.last() != Some(&b':') {
        return None;
    }
    let local = parse_endpoint(f.next()?)?;
    let remote = parse_endpoint(f.next()?)?;
    let st = hex_u32(f.next()?)?;
    let state = TcpState::from_kernel(u8::try_from(st).ok()?)?;
    let (tx, rx) = split2(f.next()?, b':')?;
    let (tr, when) = split2(f.next()?, b':')?;
    let retrnsmt = hex_u32(f.next()?)?;
    let uid = dec_u64(f.next()?)?;
    let _timeout = f.next()?;
    let inode = dec_u64(f.next()?)?;
    let mut s = Socket::new(state, local, remote);
    s.send_q = hex_u32(tx)?;
    s.recv_q = hex_u32(rx)?;
    s.timer = Timer::from_kernel(u8::try_from(hex_u32(tr)?).ok()?);
    s.timer_ms = hex_u32(when)?.saturating_mul(MS_PER_CLOCK_TICK);
    s.retransmits = u8::try_from(retrnsmt).unwrap_or(u8::MAX);
    s.uid = u32::try_from(uid).ok()?;
    s.inode = inode;
    Some(s)
}

fn is_header(line: &[u8]) -> bool {
    let t = line.trim_ascii_start();
    t.starts_with(b"sl ")
}

/// The longest line read: the kernel's are about 150 bytes (tcp) and 180
/// (tcp6). A file that never ends a line (/dev/zero) stops here.
pub(crate) const MAX_LINE: usize = 4096;

/// Streams the sockets of one /proc/net/tcp-format reader whose states are
/// in `states`. `path` only names the source in errors.
pub(super) fn read_sockets<R: BufRead, F: FnMut(&Socket)>(
    mut reader: R,
    path: &Path,
    states: StateSet,
    on_socket: &mut F,
) -> Result<u64> {
    let mut line = Vec::with_capacity(256);
    let mut n = 0u64;
    let mut line_no = 0usize;
    loop {
        line.clear();
        let got = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io(path, e))?;
        if got == 0 {
            return Ok(n);
        }
        line_no += 1;
        if line.len() > MAX_LINE {
            return Err(Error::parse(
                path,
                line_no,
                "a line of at most 4096 bytes",
                &String::from_utf8_lossy(&line[..80]),
            ));
        }
        let body = line.trim_ascii();
        if body.is_empty() || (line_no == 1 && is_header(body)) {
            continue;
        }
        match parse_line(body) {
            Some(s) => {
                if states.contains(s.state) {
                    n += 1;
                    on_socket(&s);
                }
            }
            None => {
                return Err(Error::parse(
                    path,
                    line_no,
                    EXPECTED_LINE,
                    &String::from_utf8_lossy(body),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listen_time_wait_and_ipv6_lines() {
        // Captured on this kernel (little-endian x86_64).
        let listen = b"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000003 00:00000000 \
            00000000     0        0 51423 1 0000000000000000 100 0 0 10 0";
        let s = parse_line(listen).expect("listen line");
        assert_eq!(s.state, TcpState::Listen);
        assert_eq!(s.local.to_string(), "127.0.0.1:8080");
        assert_eq!(s.recv_q, 3);
        assert_eq!(s.inode, 51423);
        let tw = b"   5: 0100007F:9C40 0200007F:1F90 06 00000000:00000000 03:00000F8C \
            00000000     0        0 0 3 0000000000000000";
        let s = parse_line(tw).expect("time-wait line");
        assert_eq!(s.state, TcpState::TimeWait);
        assert_eq!(s.timer, Timer::TimeWait);
        assert_eq!(s.timer_ms, 0xF8C * 10);
        assert_eq!(s.remote.to_string(), "127.0.0.2:8080");
        let v6 = b"   0: 00000000000000000000000001000000:0016 \
            00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 \
            00000000     0        0 1234 1 0000000000000000 100 0 0 10 0";
        let s = parse_line(v6).expect("tcp6 line");
        assert_eq!(s.local.to_string(), "[::1]:22");
    }

    #[test]
    fn a_bad_line_names_file_and_line() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when \
            retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 \
            00:00000000 00000000     0        0 1 1\n   1: garbage\n";
        let err = read_sockets(
            text.as_bytes(),
            Path::new("/proc/net/tcp"),
            StateSet::all(),
            &mut |_: &Socket| {},
        )
        .expect_err("line 3 is bad");
        let msg = err.to_string();
        assert!(
            msg.starts_with("/proc/net/tcp:3: expected a /proc/net/tcp line"),
            "{msg}"
        );
    }

    #[test]
    fn state_filter_applies() {
        let text = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 \
            00000000     0        0 1 1\n";
        let only_tw: StateSet = [TcpState::TimeWait].into_iter().collect();
        let n = read_sockets(
            text.as_bytes(),
            Path::new("x"),
            only_tw,
            &mut |_: &Socket| {},
        )
        .expect("parses");
        assert_eq!(n, 0);
    }

    #[test]
    fn garbage_never_panics() {
        for junk in [
            &b"\x00\xff\xfe"[..],
            b"0: :",
            b"0: 1:1 1:1 ZZ",
            b"   0: 0100007F:FFFFF 0:0 01 0:0 0:0 0 0 0 0",
        ] {
            assert!(parse_line(junk).is_none());
        }
    }
}
