//! Property tests for every dump parser: sockets written in each format
//! parse back to themselves, and no input makes a parser panic.

use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use tcpdoctor_core::collect::procnet;
use tcpdoctor_core::model::{Endpoint, Socket, TcpState};
use tcpdoctor_core::offline::{Line, netstat, ss};

fn state() -> impl Strategy<Value = TcpState> {
    prop::sample::select(TcpState::ALL.to_vec())
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        any::<[u8; 16]>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
    ]
}

prop_compose! {
    fn socket()(
        st in state(), a in ip(), lp in any::<u16>(), rp in any::<u16>(),
        rq in any::<u32>(), sq in any::<u32>(), v6 in any::<bool>(), b in any::<[u8; 16]>(),
    ) -> Socket {
        // Both ends of one family.
        let remote_ip = match a {
            IpAddr::V4(_) if !v6 => IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(b[4], b[5], b[6], b[7])),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(b)),
        };
        let mut s = Socket::new(st, Endpoint::new(a, lp), Endpoint::new(remote_ip, rp));
        s.recv_q = rq;
        s.send_q = sq;
        s
    }
}

fn netstat_line(s: &Socket) -> String {
    let ep = |e: &Endpoint| format!("{}:{}", e.ip, e.port);
    let proto = if s.local.ip.is_ipv4() { "tcp" } else { "tcp6" };
    format!(
        "{proto} {} {} {} {} {}",
        s.recv_q,
        s.send_q,
        ep(&s.local),
        ep(&s.remote),
        s.state.netstat_name()
    )
}

fn ss_line(s: &Socket) -> String {
    format!(
        "{} {} {} {} {}",
        s.state.ss_name(),
        s.recv_q,
        s.send_q,
        s.local,
        s.remote
    )
}

fn proc_line(s: &Socket) -> String {
    let addr = |e: &Endpoint| match e.ip {
        IpAddr::V4(a) => format!("{:08X}:{:04X}", u32::from_ne_bytes(a.octets()), e.port),
        IpAddr::V6(a) => {
            let o = a.octets();
            let words: String = o
                .chunks(4)
                .map(|c| format!("{:08X}", u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
                .collect();
            format!("{words}:{:04X}", e.port)
        }
    };
    format!(
        "   0: {} {} {:02X} {:08X}:{:08X} 00:00000000 00000000     0        0 0 1 0000000000000000",
        addr(&s.local),
        addr(&s.remote),
        s.state.kernel_number(),
        s.send_q,
        s.recv_q
    )
}

fn same(a: &Socket, b: &Socket) -> bool {
    a.state == b.state
        && a.local == b.local
        && a.remote == b.remote
        && a.recv_q == b.recv_q
        && a.send_q == b.send_q
}

proptest! {
    #[test]
    fn netstat_lines_round_trip(s in socket()) {
        match netstat::parse_line(&netstat_line(&s), true) {
            Line::Socket(p, _) => prop_assert!(same(&s, &p), "{:?} vs {:?}", s, p),
            _ => prop_assert!(false, "did not parse: {}", netstat_line(&s)),
        }
    }

    #[test]
    fn ss_lines_round_trip(s in socket()) {
        match ss::parse_line(&ss_line(&s), true) {
            Line::Socket(p, _) => prop_assert!(same(&s, &p), "{:?} vs {:?}", s, p),
            _ => prop_assert!(false, "did not parse: {}", ss_line(&s)),
        }
    }

    #[test]
    fn proc_lines_round_trip(s in socket()) {
        let p = procnet::parse_line(proc_line(&s).as_bytes());
        prop_assert!(p.as_ref().is_some_and(|p| same(&s, p)), "{} -> {:?}", proc_line(&s), p);
    }

    #[test]
    fn no_line_makes_a_parser_panic(line in ".{0,200}") {
        let _ = netstat::parse_line(&line, true);
        let _ = ss::parse_line(&line, true);
        let _ = procnet::parse_line(line.as_bytes());
        let _ = ss::parse_users(&line);
        let _ = ss::parse_duration_ms(&line);
    }

    #[test]
    fn no_bytes_make_the_netlink_parser_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        use tcpdoctor_core::collect::netlink::{Family, parse_chunk};
        let _ = parse_chunk(&bytes, Family::Both, None, &mut |_: &Socket| {});
    }
}

proptest! {
    #[test]
    fn the_hand_written_ip_parser_agrees_with_std(s in "[0-9.]{0,16}") {
        prop_assert_eq!(tcpdoctor_core::offline::parse_ip(&s), s.parse::<IpAddr>().ok());
    }

    #[test]
    fn every_ipv4_parses(a in any::<[u8; 4]>()) {
        let ip = IpAddr::V4(Ipv4Addr::from(a));
        prop_assert_eq!(tcpdoctor_core::offline::parse_ip(&ip.to_string()), Some(ip));
    }
}
