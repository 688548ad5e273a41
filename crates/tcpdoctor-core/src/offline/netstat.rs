//! `netstat -ant`, `-antp`, `-antW` (net-tools) lines.

use super::{DumpOwner, Lead, Line, netstat_lead, parse_endpoint, parse_queue, words};
use crate::model::{Socket, TcpState};

pub(super) const EXPECTED: &str =
    "a netstat -ant line: 'tcp RECV-Q SEND-Q LOCAL:PORT FOREIGN:PORT STATE [PID/PROGRAM]'";

/// One netstat line.
pub fn parse_line(text: &str, wants_owners: bool) -> Line {
    let mut w = words(text);
    let Some(proto) = w.next() else {
        return Line::Skip;
    };
    let second = words(text).nth(1).unwrap_or("");
    match netstat_lead(proto.as_bytes(), second.as_bytes()) {
        Lead::Tcp { .. } => {}
        Lead::Header => return Line::Skip,
        Lead::Other => return Line::Other,
        Lead::FormatChange => return Line::FormatChange,
        Lead::Bad => return Line::Bad,
    }
    let parsed = (|| {
        let recv_q = parse_queue(w.next()?.as_bytes())?;
        let send_q = parse_queue(w.next()?.as_bytes())?;
        let local = parse_endpoint(w.next()?, false)?;
        let remote = parse_endpoint(w.next()?, false)?;
        let state = TcpState::parse_name(w.next()?)?;
        let mut s = Socket::new(state, local, remote);
        s.recv_q = recv_q;
        s.send_q = send_q;
        let mut owners = Vec::new();
        if wants_owners {
            let rest: Vec<&str> = w.collect();
            let program = rest.join(" ");
            if let Some((pid, comm)) = program.split_once('/')
                && let Ok(pid) = pid.parse()
            {
                owners.push(DumpOwner {
                    pid,
                    comm: comm.trim().to_string(),
                    fd: None,
                });
            }
        }
        Some((s, owners))
    })();
    match parsed {
        Some((s, o)) => Line::Socket(s, o),
        None => Line::Bad,
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
    fn parses_plain_p_and_ipv6_lines() {
        let (s, o) = socket(
            "tcp        1      0 \
                127.0.0.1:80            127.0.0.1:56778         CLOSE_WAIT  31762/python3       ",
        );
        assert_eq!(s.state, TcpState::CloseWait);
        assert_eq!(s.recv_q, 1);
        assert_eq!(s.remote.to_string(), "127.0.0.1:56778");
        assert_eq!(
            o,
            vec![DumpOwner {
                pid: 31762,
                comm: "python3".into(),
                fd: None
            }]
        );
        let (s, o) = socket(
            "tcp6       0      0 :::22                   :::*                    LISTEN      -",
        );
        assert_eq!(s.local.to_string(), "[::]:22");
        assert!(o.is_empty());
        let (s, _) =
            socket("tcp6       0      0 ::ffff:127.0.0.1:8080   ::ffff:127.0.0.1:40000  TIME_WAIT");
        assert_eq!(s.state, TcpState::TimeWait);
        let (_, o) = socket("tcp 0 0 1.2.3.4:5 6.7.8.9:10 ESTABLISHED 77/nginx: worker p");
        assert_eq!(o[0].comm, "nginx: worker p");
    }

    #[test]
    fn headers_and_other_sections_are_skipped_and_garbage_is_bad() {
        for l in [
            "Active Internet connections (servers and established)",
            "Proto Recv-Q Send-Q Local Address Foreign Address State",
            "(Not all processes could be identified)",
            "",
        ] {
            assert!(matches!(parse_line(l, true), Line::Skip), "{l}");
        }
        for l in [
            "udp 0 0 0.0.0.0:68 0.0.0.0:*",
            "unix  2      [ ACC ]     STREAM     LISTENING     21405    /run/dbus",
        ] {
            assert!(matches!(parse_line(l, true), Line::Other), "{l}");
        }
        for l in ["State Recv-Q Send-Q", "ESTAB 0 0 1.2.3.4:5 6.7.8.9:10"] {
            assert!(matches!(parse_line(l, true), Line::FormatChange), "{l}");
        }
        for l in [
            "tcp 0 0 127.0.0.1 0.0.0.0:* LISTEN",
            "tcp x 0 1.2.3.4:5 6.7.8.9:10 ESTABLISHED",
            "tcp 0 0 1.2.3.4:5 6.7.8.9:10 HALF_OPEN",
            "tcp 0 0 2001:db8:85a3:0:0:8a2e:370:7334:443",
        ] {
            assert!(matches!(parse_line(l, true), Line::Bad), "{l}");
        }
    }
}
