//! What Recv-Q means in CLOSE_WAIT, proven on the kernel: the peer's FIN
//! counts as one byte until the program reads the end of stream. So Recv-Q
//! 1 is "not read since the FIN", 0 "read EOF and still not closed", more
//! "data never read, then the FIN". close-wait-leak words its evidence and
//! remedy from this. Needs root (a private network namespace).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use tcpdoctor_core::collect::plan::{self, SnapshotPlan};
use tcpdoctor_core::collect::{self, ProcRoot, SocketQuery, SourceChoice};
use tcpdoctor_core::diagnose::{self, Selection, Thresholds};
use tcpdoctor_core::model::{NetnsSelector, Socket, StateSet, TcpState};
use tcpdoctor_testkit::netns::run_in_private_netns;
use tcpdoctor_testkit::wait_until;

/// CLOSE_WAIT sockets of this namespace by their peer's port.
fn close_wait_by_peer_port() -> BTreeMap<u16, Socket> {
    let mut v: Vec<Socket> = Vec::new();
    let q = SocketQuery {
        states: [TcpState::CloseWait].into_iter().collect::<StateSet>(),
        ..SocketQuery::default()
    };
    collect::collect_sockets(&ProcRoot::live(), &q, SourceChoice::Netlink, &mut v).expect("dumps");
    v.into_iter().map(|s| (s.remote.port, s)).collect()
}

#[test]
#[ignore = "needs root"]
fn recv_q_in_close_wait_counts_the_unread_fin() {
    run_in_private_netns(|| {
        let l = TcpListener::bind("127.0.0.1:9800").expect("binds");
        let connect = || {
            let c = TcpStream::connect("127.0.0.1:9800").expect("connects");
            let (s, _) = l.accept().expect("accepts");
            (c, s)
        };
        // A: the client closes; the server never reads.
        let (a, _a_srv) = connect();
        // B: the client sends 3 bytes, then closes; the server never reads.
        let (mut b, _b_srv) = connect();
        b.write_all(b"abc").expect("sends");
        // C: the client closes; the server reads to the end of stream.
        let (c, mut c_srv) = connect();
        let ports = [&a, &b, &c].map(|s| s.local_addr().expect("addr").port());
        for s in [&a, &b, &c] {
            s.shutdown(Shutdown::Write).expect("FIN");
        }
        let mut rest = Vec::new();
        c_srv.read_to_end(&mut rest).expect("reads to EOF");
        wait_until("three CLOSE_WAIT", || {
            let cw = close_wait_by_peer_port();
            Ok(ports.iter().all(|p| cw.contains_key(p))
                && cw.get(&ports[1]).is_some_and(|s| s.recv_q == 4))
        })
        .expect("settles");
        let cw = close_wait_by_peer_port();
        assert_eq!(cw[&ports[0]].recv_q, 1, "the FIN, unread");
        assert_eq!(cw[&ports[1]].recv_q, 4, "3 bytes and the FIN, unread");
        assert_eq!(cw[&ports[2]].recv_q, 0, "read to EOF: nothing left");

        // close-wait-leak says the same, for the service on port 9800.
        let plan = SnapshotPlan {
            interval: std::time::Duration::ZERO,
            sysctl_files: Vec::new(),
            ..SnapshotPlan::new(Selection::All.needs())
        };
        let snap =
            plan::snapshot(&ProcRoot::live(), &NetnsSelector::Current, &plan).expect("snapshot");
        let mut th = Thresholds::default();
        th.set("close-wait-info", 1.0).expect("declared");
        let d = diagnose::run(&snap, &th, Selection::All);
        let f = d
            .findings
            .iter()
            .find(|f| f.id == "close-wait-leak")
            .unwrap_or_else(|| panic!("{:#?}", d.findings));
        assert!(f.title.contains("port 9800"), "{}", f.title);
        assert!(
            f.title.contains(&format!("pid {}", std::process::id())),
            "{}",
            f.title
        );
        assert_eq!(f.evidence.get("recv_q_1_unread_fin"), Some(&1.into()));
        assert_eq!(f.evidence.get("recv_q_0_read_eof"), Some(&1.into()));
        assert_eq!(f.evidence.get("unread_data_bytes"), Some(&3.into()));
        drop((a, b, c));
    })
    .expect("a private namespace");
}
