//! Parsers against bytes captured from the real kernel
//! (tests/fixtures/every-state, see its README.md): sock_diag replies with
//! and without tcp_info, /proc/net files and sysctls. No root needed.

use crate::support::every_state_dir as dir;
use std::collections::BTreeMap;
use tcpdoctor_core::collect::netlink::{Family, parse_chunk};
use tcpdoctor_core::collect::{self, ProcRoot, SocketQuery, SourceChoice};
use tcpdoctor_core::model::Census;
use tcpdoctor_core::model::{Socket, TcpState};
use tcpdoctor_core::model::{SocketSink, SourceUsed};

fn expected() -> BTreeMap<TcpState, u64> {
    let text = std::fs::read_to_string(dir().join("expected.json")).expect("expected.json");
    let m: BTreeMap<String, u64> = serde_json::from_str(&text).expect("json");
    m.into_iter()
        .map(|(k, v)| (k.parse().expect("state name"), v))
        .collect()
}

fn netlink_sockets(info: bool) -> Vec<Socket> {
    let mut all = Vec::new();
    for (family, name) in [(Family::V4, "v4"), (Family::V6, "v6")] {
        let suffix = if info { "-info" } else { "" };
        let bytes =
            std::fs::read(dir().join(format!("netlink-{name}{suffix}.bin"))).expect("capture");
        let out = parse_chunk(&bytes, family, None, &mut |s: &Socket| all.push(s.clone()))
            .expect("parses");
        assert!(out.done, "the capture ends with NLMSG_DONE");
    }
    all
}

fn count(sockets: &[Socket]) -> BTreeMap<TcpState, u64> {
    let mut c = Census::new(None);
    for s in sockets {
        c.socket(s);
    }
    c.states().into_iter().collect()
}

#[test]
fn captured_netlink_dumps_count_to_the_ground_truth() {
    assert_eq!(count(&netlink_sockets(false)), expected());
    let with_info = netlink_sockets(true);
    assert_eq!(count(&with_info), expected());
    // Request sockets (SYN_RECV) and timewait mini-sockets carry no tcp_info.
    for s in &with_info {
        match s.state {
            TcpState::SynRecv | TcpState::TimeWait => assert!(s.info.is_none(), "{s:?}"),
            TcpState::FinWait2 if s.inode == 0 => assert!(s.info.is_none(), "{s:?}"),
            _ => assert_eq!(
                s.info.as_ref().map(|i| i.state),
                Some(s.state.kernel_number()),
                "{s:?}"
            ),
        }
    }
}

#[test]
fn the_oracle_crate_agrees_on_every_captured_message() {
    use netlink_packet_core::Parseable;
    use netlink_packet_sock_diag::inet::InetResponse;
    for file in [
        "netlink-v4.bin",
        "netlink-v6.bin",
        "netlink-v4-info.bin",
        "netlink-v6-info.bin",
    ] {
        let bytes = std::fs::read(dir().join(file)).expect("capture");
        let family = if file.contains("v6") {
            Family::V6
        } else {
            Family::V4
        };
        let mut ours = Vec::new();
        parse_chunk(&bytes, family, None, &mut |s: &Socket| ours.push(s.clone())).expect("parses");
        let mut off = 0;
        let mut i = 0;
        while off < bytes.len() {
            let len = u32::from_ne_bytes(bytes[off..off + 4].try_into().expect("4 bytes")) as usize;
            let kind = u16::from_ne_bytes(bytes[off + 4..off + 6].try_into().expect("2 bytes"));
            if kind == 20 {
                let o = InetResponse::parse(&bytes[off + 16..off + len]).expect("oracle parses");
                let s = &ours[i];
                i += 1;
                assert_eq!(TcpState::from_kernel(o.header.state), Some(s.state));
                assert_eq!(o.header.socket_id.source_port, s.local.port);
                assert_eq!(o.header.socket_id.destination_port, s.remote.port);
                assert_eq!(o.header.socket_id.source_address, s.local.ip);
                assert_eq!(o.header.socket_id.destination_address, s.remote.ip);
                assert_eq!(u64::from(o.header.inode), s.inode);
                assert_eq!(o.header.uid, s.uid);
                assert_eq!(o.header.recv_queue, s.recv_q);
                assert_eq!(o.header.send_queue, s.send_q);
                assert_eq!(
                    Some(u64::from_ne_bytes(o.header.socket_id.cookie)),
                    s.cookie
                );
            }
            off += (len + 3) & !3;
        }
        assert_eq!(i, ours.len(), "{file}: every socket compared");
    }
}

#[test]
fn captured_proc_tree_counts_to_the_ground_truth() {
    let root = ProcRoot::new(dir().join("proc"));
    let mut c = Census::new(None);
    let r = collect::collect_sockets(&root, &SocketQuery::default(), SourceChoice::Auto, &mut c)
        .expect("reads");
    assert_eq!(
        r.source,
        SourceUsed::Proc,
        "a captured tree is read from its files"
    );
    assert_eq!(
        c.states().into_iter().collect::<BTreeMap<_, _>>(),
        expected()
    );
}

#[test]
fn proc_and_netlink_captures_describe_the_same_sockets() {
    let mut from_proc: Vec<Socket> = Vec::new();
    let root = ProcRoot::new(dir().join("proc"));
    collect::collect_sockets(
        &root,
        &SocketQuery::default(),
        SourceChoice::Proc,
        &mut from_proc,
    )
    .expect("reads");
    let key = |s: &Socket| (s.state, s.local, s.remote);
    let mut a: Vec<_> = from_proc.iter().map(key).collect();
    let mut b: Vec<_> = netlink_sockets(false).iter().map(key).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[test]
fn captured_host_files_parse_without_complaint() {
    let root = ProcRoot::new(dir().join("proc"));
    let h = collect::host::read_host_info(&root);
    assert!(h.notes.is_empty(), "{:?}", h.notes);
    assert!(h.kernel_version().is_some());
    // sockstat's "tw" counts timewait mini-sockets: TIME_WAIT and also the
    // orphaned FIN_WAIT2 ones (no inode), not TIME_WAIT alone.
    let mini = netlink_sockets(false)
        .iter()
        .filter(|s| {
            s.state == TcpState::TimeWait || (s.state == TcpState::FinWait2 && s.inode == 0)
        })
        .count() as u64;
    assert_eq!(h.sockstat.map(|s| s.tw), Some(mini));
    assert!(mini > expected()[&TcpState::TimeWait]);
    assert!(h.tcp.contains_key("CurrEstab"));
    assert!(h.tcp_ext.contains_key("TCPTimeWaitOverflow"));
    assert!(h.local_port_range().is_some());
    assert!(h.sysctls.contains_key("net.ipv4.tcp_fin_timeout"));
    assert!(
        !h.sysctls.contains_key("net.ipv4.tcp_fastopen_key"),
        "secrets are never read"
    );
    assert!(h.file_nr.is_some_and(|f| f.max > 0));
}

#[test]
fn a_missing_tcp6_is_a_note_not_an_error() {
    let tmp = tcpdoctor_testkit::TempDir::new("no-v6");
    std::fs::create_dir_all(tmp.join("net")).expect("mkdir");
    std::fs::copy(dir().join("proc/net/tcp"), tmp.join("net/tcp")).expect("copy");
    let mut c = Census::new(None);
    let r = collect::collect_sockets(
        &ProcRoot::new(tmp.path()),
        &SocketQuery::default(),
        SourceChoice::Auto,
        &mut c,
    );
    let r = r.expect("still works");
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("tcp6") && n.contains("missing")),
        "{:?}",
        r.notes
    );
    assert!(c.total() > 0);
}
