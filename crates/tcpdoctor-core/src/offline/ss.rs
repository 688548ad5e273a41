//! `ss -tan`, `-tanp`, `-tanoie` (iproute2) lines.

use super::{DumpOwner, Lead, Line, parse_endpoint, parse_queue, ss_lead, words};
use crate::model::{Socket, TcpInfo, TcpState, Timer};

pub(super) const EXPECTED: &str = "an ss -tan line: 'STATE RECV-Q SEND-Q LOCAL:PORT PEER:PORT \
    [users:(...)] [timer:(...)] [ino:N sk:N]' (taken with -n)";

/// "9min54sec", "59sec", "200ms", "1h3min" -> milliseconds.
pub fn parse_duration_ms(s: &str) -> Option<u32> {
    let mut total: u64 = 0;
    let mut num = String::new();
    let mut unit = String::new();
    let mut push = |num: &mut String, unit: &mut String| -> Option<()> {
        if num.is_empty() {
            return if unit.is_empty() { Some(()) } else { None };
        }
        let n: f64 = num.parse().ok()?;
        let ms = match unit.as_str() {
            "ms" => n,
            "sec" | "s" => n * 1000.0,
            "min" => n * 60_000.0,
            "h" => n * 3_600_000.0,
            "d" => n * 86_400_000.0,
            _ => return None,
        };
        total += ms as u64;
        num.clear();
        unit.clear();
        Some(())
    };
    for c in s.chars() {
        if c.is_ascii_digit() || c == '.' {
            if !unit.is_empty() {
                push(&mut num, &mut unit)?;
            }
            num.push(c);
        } else {
            unit.push(c);
        }
    }
    push(&mut num, &mut unit)?;
    u32::try_from(total).ok()
}

/// `users:(("nginx",pid=1234,fd=5),("nginx",pid=1235,fd=5))`.
pub fn parse_users(s: &str) -> Vec<DumpOwner> {
    let mut out = Vec::new();
    for part in s.split("(\"").skip(1) {
        let Some((comm, rest)) = part.split_once('"') else {
            continue;
        };
        let field = |name: &str| -> Option<u32> {
            let at = rest.find(name)? + name.len();
            rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect::<String>()
                .parse()
                .ok()
        };
        if let Some(pid) = field("pid=") {
            out.push(DumpOwner {
                pid,
                comm: comm.to_string(),
                fd: field("fd="),
            });
        }
    }
    out
}

fn parse_timer(s: &str) -> Option<(Timer, u32, u8)> {
    let inner = s.strip_prefix("timer:(")?.strip_suffix(')')?;
    let mut p = inner.split(',');
    let timer = match p.next()? {
        "on" => Timer::Retransmit,
        "keepalive" => Timer::KeepAlive,
        "timewait" => Timer::TimeWait,
        "persist" => Timer::ZeroWindowProbe,
        _ => Timer::Other(0),
    };
    let ms = parse_duration_ms(p.next()?)?;
    let retrans = p.next().and_then(|r| r.parse().ok()).unwrap_or(0);
    Some((timer, ms, retrans))
}

/// One ss line. Lines that start with whitespace are `-i` details of the
/// socket above.
pub fn parse_line(text: &str, wants_owners: bool) -> Line {
    if text.starts_with([' ', '\t']) {
        return if text.trim().is_empty() {
            Line::Skip
        } else {
            Line::Detail
        };
    }
    let mut w = words(text).peekable();
    let Some(&first) = w.peek() else {
        return Line::Skip;
    };
    let second = words(text).nth(1).unwrap_or("");
    match ss_lead(first.as_bytes(), second.as_bytes()) {
        Lead::Tcp { netid: true } => {
            w.next();
        }
        Lead::Tcp { netid: false } => {}
        Lead::Header => return Line::Skip,
        Lead::Other => return Line::Other,
        Lead::FormatChange => return Line::FormatChange,
        Lead::Bad => return Line::Bad,
    }
    let parsed = (|| {
        let state = TcpState::parse_name(w.next()?)?;
        let recv_q = parse_queue(w.next()?.as_bytes())?;
        let send_q = parse_queue(w.next()?.as_bytes())?;
        let local = parse_endpoint(w.next()?, true)?;
        let remote = parse_endpoint(w.next()?, true)?;
        let mut s = Socket::new(state, local, remote);
        s.recv_q = recv_q;
        s.send_q = send_q;
        let mut owners = Vec::new();
        for extra in w {
            if let Some(v) = extra.strip_prefix("ino:") {
                s.inode = v.parse().ok()?;
            } else if let Some(v) = extra.strip_prefix("sk:") {
                s.cookie = Some(u64::from_str_radix(v, 16).ok()?);
            } else if let Some(v) = extra.strip_prefix("uid:") {
                s.uid = v.parse().ok()?;
            } else if extra.starts_with("timer:(") {
                let (t, ms, r) = parse_timer(extra)?;
                s.timer = t;
                s.timer_ms = ms;
                s.retransmits = r;
            } else if wants_owners && extra.starts_with("users:(") {
                owners = parse_users(extra);
            }
        }
        Some((s, owners))
    })();
    match parsed {
        Some((s, o)) => Line::Socket(s, o),
        None => Line::Bad,
    }
}

/// Reads what an `ss -i` detail line says that tcpdoctor uses: lastack
/// (ms since the last ACK received: a CLOSE_WAIT's age).
pub(super) fn apply_detail(s: &mut Socket, text: &str) {
    for w in text.split_ascii_whitespace() {
        if let Some(v) = w.strip_prefix("lastack:")
            && let Ok(ms) = v.parse::<u32>()
        {
            let info = s.info.get_or_insert_with(|| {
                Box::new(TcpInfo {
                    len: TcpInfo::END_LAST_ACK_RECV,
                    state: s.state.kernel_number(),
                    ..TcpInfo::default()
                })
            });
            info.last_ack_recv_ms = ms;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(text: &str) -> (Socket, Vec<DumpOwner>) {
        parse_line(text, true)
            .into_socket()
            .unwrap_or_else(|| panic!("not a socket line: {text}"))
    }

    #[test]
    fn parses_tan_tanp_and_tanoie_lines() {
        let (s, o) = socket(
            "CLOSE-WAIT 1      0          127.0.0.1:80       127.0.0.1:56778 \
                users:((\"python3\",pid=31762,fd=5)) ino:7610612 sk:298247 cgroup:unreachable:1 \
                -->",
        );
        assert_eq!(s.state, TcpState::CloseWait);
        assert_eq!((s.recv_q, s.inode, s.cookie), (1, 7610612, Some(0x298247)));
        assert_eq!(
            o,
            vec![DumpOwner {
                pid: 31762,
                comm: "python3".into(),
                fd: Some(5)
            }]
        );
        let (s, _) = socket(
            "FIN-WAIT-2 \
                0      0          127.0.0.1:56778    127.0.0.1:80    timer:(timewait,59sec,0) \
                ino:0 sk:298246",
        );
        assert_eq!(
            (s.state, s.timer, s.timer_ms),
            (TcpState::FinWait2, Timer::TimeWait, 59_000)
        );
        let (s, _) = socket("LISTEN     0      128             [::1]:8003          [::]:*");
        assert_eq!(s.local.to_string(), "[::1]:8003");
        assert_eq!(s.remote.port, 0);
        let (s, _) = socket("tcp ESTAB 0 0 127.0.0.1%lo:80 127.0.0.1:5000");
        assert_eq!(s.local.to_string(), "127.0.0.1:80");
        let (_, o) = socket(
            "ESTAB 0 0 1.2.3.4:5 6.7.8.9:10 users:((\"nginx\",pid=1,fd=5),(\"nginx\",pid=2,fd=7))",
        );
        assert_eq!(o.len(), 2);
    }

    #[test]
    fn details_give_close_wait_ages() {
        let (mut s, _) = socket("CLOSE-WAIT 1 0 127.0.0.1:80 127.0.0.1:56778");
        assert!(matches!(
            parse_line(
                "\t ts sack bbr lastsnd:212 lastrcv:212 lastack:4200 rcv_space:65483",
                true
            ),
            Line::Detail
        ));
        apply_detail(
            &mut s,
            "\t ts sack bbr lastsnd:212 lastrcv:212 lastack:4200 rcv_space:65483",
        );
        assert_eq!(crate::model::age_seconds(&s), Some(4.2));
    }

    #[test]
    fn other_protocols_are_skipped_and_a_netstat_line_is_a_format_change() {
        for l in [
            "udp   UNCONN 0      0      0.0.0.0:68     0.0.0.0:*",
            "u_str ESTAB  0      0      * 21405        * 21406",
        ] {
            assert!(matches!(parse_line(l, true), Line::Other), "{l}");
        }
        for l in [
            "tcp        0      0 127.0.0.1:8000          0.0.0.0:*               LISTEN",
            "Active Internet connections (servers and established)",
        ] {
            assert!(matches!(parse_line(l, true), Line::FormatChange), "{l}");
        }
        let (s, _) = socket("tcp   ESTAB  0      0      127.0.0.1:80   127.0.0.1:5000");
        assert_eq!(s.state, TcpState::Established);
    }

    #[test]
    fn durations_and_bad_lines() {
        assert_eq!(parse_duration_ms("9min54sec"), Some(594_000));
        assert_eq!(parse_duration_ms("200ms"), Some(200));
        assert_eq!(parse_duration_ms("1h3min"), Some(3_780_000));
        assert_eq!(parse_duration_ms("5parsecs"), None);
        for l in [
            "ESTAB 0 0 127.0.0.1:http 127.0.0.1:5000",
            "ESTAB 0 0 127.0.0.1:80",
            "NOPE 0 0 1.2.3.4:5 6.7.8.9:10",
            "ESTAB 0 0 1.2.3.4:5 6.7.8.9:10 ino:xyz",
        ] {
            assert!(matches!(parse_line(l, true), Line::Bad), "{l}");
        }
    }
}
