//! The tokens every dump format shares: words, IP addresses, endpoints
//! (netstat's and ss's spellings), queue sizes, and how a line begins.

use super::Lead;
use crate::model::TcpState;

/// Protocols other than TCP that `netstat -a` and `ss -a` list.
const OTHER_PROTOCOLS: &[&[u8]] = &[
    b"udp", b"udp6", b"udpl", b"udpl6", b"raw", b"raw6", b"unix", b"u_str", b"u_dgr", b"u_seq",
    b"p_raw", b"p_dgr", b"nl", b"mptcp", b"sctp", b"tipc", b"v_str", b"v_dgr", b"xdp", b"icmp",
    b"icmp6", b"dccp",
];

/// The fields of a dump line: separated by spaces and tabs, exactly as
/// the fast census splits them (other whitespace is part of a field).
pub(crate) fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split([' ', '\t']).filter(|w| !w.is_empty())
}

fn is_number(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(u8::is_ascii_digit)
}

/// netstat: `tcp`/`tcp6` lines; its headers and section titles; other
/// protocols' lines; an ss line or header means the input changed format.
pub(crate) fn netstat_lead(first: &[u8], second: &[u8]) -> Lead {
    match first {
        b"tcp" | b"tcp6" => Lead::Tcp { netid: false },
        b"Active" | b"Proto" => Lead::Header,
        _ if first.starts_with(b"(") => Lead::Header,
        _ if OTHER_PROTOCOLS.contains(&first) => Lead::Other,
        b"State" | b"Netid" => Lead::FormatChange,
        _ if std::str::from_utf8(first).is_ok_and(|w| TcpState::parse_name(w).is_some())
            && is_number(second) =>
        {
            Lead::FormatChange
        }
        _ => Lead::Bad,
    }
}

/// ss: `STATE ...` lines, or `tcp STATE ...` with a Netid column; its
/// header; other protocols' lines; a netstat line or title means the input
/// changed format.
pub(crate) fn ss_lead(first: &[u8], second: &[u8]) -> Lead {
    match first {
        b"State" | b"Netid" => Lead::Header,
        b"tcp" if is_number(second) => Lead::FormatChange,
        b"tcp" => Lead::Tcp { netid: true },
        b"tcp6" | b"Active" | b"Proto" => Lead::FormatChange,
        _ if OTHER_PROTOCOLS.contains(&first) => Lead::Other,
        _ => Lead::Tcp { netid: false },
    }
}

/// An IP address: dotted IPv4 parsed by hand (the hot path: std's parser
/// was a fifth of the time of a million-line census), anything else by std.
pub fn parse_ip(s: &str) -> Option<std::net::IpAddr> {
    parse_ip_bytes(s.as_bytes())
}

/// `parse_ip` on bytes (the fast census reads bytes, not text). Digits
/// and dots are an IPv4 address read by hand (four groups of one to three
/// digits, no leading zero, at most 255); anything else (an IPv6 address)
/// goes to std.
fn parse_ip_bytes(b: &[u8]) -> Option<std::net::IpAddr> {
    if let Some(v4) = dotted_quad(b) {
        return Some(std::net::IpAddr::from(v4));
    }
    if b.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// A dotted-quad IPv4 address, read group by group.
fn dotted_quad(b: &[u8]) -> Option<[u8; 4]> {
    let mut octets = [0u8; 4];
    let mut pos = 0;
    for (i, octet) in octets.iter_mut().enumerate() {
        if i > 0 {
            if b.get(pos) != Some(&b'.') {
                return None;
            }
            pos += 1;
        }
        let start = pos;
        let mut v: u32 = 0;
        while pos < b.len() && pos - start < 3 && b[pos].is_ascii_digit() {
            v = v * 10 + u32::from(b[pos] - b'0');
            pos += 1;
        }
        let n = pos - start;
        if n == 0 || (n > 1 && b[start] == b'0') || v > 255 {
            return None;
        }
        *octet = v as u8;
    }
    (pos == b.len()).then_some(octets)
}

/// "ip:port" as dumps print it, split at the last colon (netstat joins
/// IPv6 and port with a bare one). A port of `*` is 0, an interface suffix
/// (`%lo`) is dropped. `ss_style` also accepts ss's `[v6]` brackets and a
/// `*` address. Byte search and a hand-rolled port: this is the hot path of
/// parsing a million-line dump.
pub(crate) fn parse_endpoint(s: &str, ss_style: bool) -> Option<crate::model::Endpoint> {
    parse_endpoint_bytes(s.as_bytes(), ss_style)
}

/// `parse_endpoint` on bytes: the one function both the general parsers
/// and the fast census check endpoints with.
pub(crate) fn parse_endpoint_bytes(s: &[u8], ss_style: bool) -> Option<crate::model::Endpoint> {
    // Fields are short: a plain loop beats memchr's setup here.
    let colon = s.iter().rposition(|c| *c == b':')?;
    let (ip, port) = (&s[..colon], &s[colon + 1..]);
    let port = if port == b"*" {
        0
    } else {
        parse_port_bytes(port)?
    };
    let ip = if ss_style {
        ip.strip_prefix(b"[")
            .and_then(|i| i.strip_suffix(b"]"))
            .unwrap_or(ip)
    } else {
        ip
    };
    let ip = match ip.iter().position(|c| *c == b'%') {
        Some(at) => &ip[..at],
        None => ip,
    };
    // ss prints an IPv4 wildcard as 0.0.0.0 and the IPv6 one as `*`.
    let ip = if ss_style && ip == b"*" {
        std::net::IpAddr::from(std::net::Ipv6Addr::UNSPECIFIED)
    } else {
        parse_ip_bytes(ip)?
    };
    Some(crate::model::Endpoint::new(ip, port))
}

/// A decimal port, "0" to "65535".
fn parse_port_bytes(s: &[u8]) -> Option<u16> {
    if s.is_empty() || s.len() > 5 {
        return None;
    }
    let mut v: u32 = 0;
    for b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(b - b'0');
    }
    u16::try_from(v).ok()
}

/// A queue length (Recv-Q, Send-Q): decimal digits only (no sign), at
/// most u32. Both the general parsers and the fast census use it.
pub(crate) fn parse_queue(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 10 {
        return None;
    }
    let mut v: u64 = 0;
    for b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(b - b'0');
    }
    u32::try_from(v).ok()
}
