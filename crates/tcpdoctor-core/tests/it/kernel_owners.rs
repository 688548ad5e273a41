//! Owners, ages, TIME_WAIT attribution and namespaces against the real
//! kernel. Sockets are held by this test process and by a python3 peer
//! process in private network namespaces. Needs root; skipped otherwise.

use crate::support::converge;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::{Shutdown, TcpStream};
use std::process::{ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};
use tcpdoctor_core::collect::plan::{self, SnapshotPlan};
use tcpdoctor_core::collect::{ProcRoot, SocketQuery, SourceChoice};
use tcpdoctor_core::model::{
    CensusOutcome, GroupBy, GroupKey, Listing, Needs, NetnsSelector, RowFilter, Side, Snapshot,
    StateSet, TcpState, rows,
};
use tcpdoctor_testkit::netns::run_in_private_netns;
use tcpdoctor_testkit::states::{build_established, build_every_state};
use tcpdoctor_testkit::{Kill, wait_until};

/// A peer process: listens on PORT (never closes after EOF: CLOSE_WAIT)
/// and PORT+1 (closes every connection first: TIME_WAIT on its side).
const PEER: &str = r#"
import socket, sys, select
port = int(sys.argv[1])
leak = socket.socket(); leak.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
leak.bind(("127.0.0.1", port)); leak.listen(128)
closer = socket.socket(); closer.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
closer.bind(("127.0.0.1", port + 1)); closer.listen(128)
print("ready", flush=True)
held = []
while True:
    r, _, _ = select.select([leak, closer, sys.stdin], [], [])
    if sys.stdin in r:
        break
    if leak in r:
        c, _ = leak.accept()
        while c.recv(65536):
            pass
        held.append(c)  # EOF read, never closed: CLOSE_WAIT
        print("eof", flush=True)
    if closer in r:
        c, _ = closer.accept()
        c.close()  # this side closes first
        print("closed", flush=True)
"#;

/// The peer process (killed on drop; closing its stdin first ends it)
/// and its stdout.
struct Peer {
    child: Kill,
    out: BufReader<ChildStdout>,
}

impl Peer {
    fn start(port: u16) -> Peer {
        let mut child = Command::new("python3")
            .args(["-c", PEER, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut p = Peer {
            child: Kill(child),
            out,
        };
        p.expect("ready");
        p
    }

    fn expect(&mut self, what: &str) {
        let mut line = String::new();
        self.out.read_line(&mut line).expect("peer line");
        assert_eq!(line.trim(), what, "peer said {line:?}");
    }

    fn pid(&self) -> u32 {
        self.child.pid()
    }
}

/// A snapshot with owners and the filter its rows are listed with.
struct Listed(Snapshot, RowFilter);

impl Listed {
    fn view(&self) -> Listing<'_> {
        rows(&self.0, &self.1)
    }
}

fn listing_in(sel: &NetnsSelector, filter: RowFilter) -> Listed {
    let plan = SnapshotPlan {
        filter: filter.clone(),
        ..SnapshotPlan::new(Needs::OWNERS.and(Needs::CLOSE_WAIT_INFO))
    };
    let snap = plan::snapshot(&ProcRoot::live(), sel, &plan).expect("lists");
    Listed(snap, filter)
}

fn listing(filter: RowFilter) -> Listed {
    listing_in(&NetnsSelector::Current, filter)
}

/// `census --by process` of the current namespace for one state.
fn census_by_process(state: TcpState) -> tcpdoctor_core::model::CensusReport {
    let q = SocketQuery {
        states: states(&[state]).expect("set"),
        ..SocketQuery::default()
    };
    match plan::census(
        &ProcRoot::live(),
        &NetnsSelector::Current,
        &q,
        SourceChoice::Auto,
        Some(GroupBy::Process),
        10,
    )
    .expect("census")
    {
        CensusOutcome::Single(r) => *r,
        CensusOutcome::Multi(_) => panic!("one namespace asked, one report expected"),
    }
}

fn states(list: &[TcpState]) -> Option<StateSet> {
    Some(list.iter().copied().collect())
}

#[test]
#[ignore = "needs root"]
fn every_socket_with_a_file_is_owned_by_the_process_and_fd_that_hold_it() {
    run_in_private_netns(|| {
        let pop = build_every_state(7800, 1).expect("builds");
        converge(&pop.expected);
        let listed = listing(RowFilter::default());
        let l = listed.view();
        let me = std::process::id();
        let held: Vec<u64> = pop.inodes();
        let mut owned = 0;
        for r in &l.rows {
            if r.socket.inode == 0 {
                assert!(r.owners.is_empty(), "{r:?}");
                continue;
            }
            assert!(
                held.contains(&r.socket.inode),
                "an inode we did not make: {r:?}"
            );
            assert_eq!(r.owners.len(), 1, "{r:?}");
            let o = &r.owners[0];
            assert_eq!(o.pid, me);
            let link = std::fs::read_link(format!("/proc/self/fd/{}", o.fd)).expect("fd exists");
            assert_eq!(
                link.to_string_lossy(),
                format!("socket:[{}]", r.socket.inode)
            );
            owned += 1;
        }
        assert_eq!(owned, held.len(), "every socket we hold was found");
        let p = l.process(me).expect("our process details");
        assert!(p.fd_count as usize >= held.len());
        assert!(
            p.nofile_soft.is_some(),
            "RLIMIT_NOFILE read from /proc/PID/limits"
        );
        assert!(p.cgroup.is_some());
    })
    .expect("namespace");
}

#[test]
#[ignore = "needs root"]
fn close_wait_age_is_how_long_ago_the_peers_fin_arrived() {
    run_in_private_netns(|| {
        let mut peer = Peer::start(7810);
        let t0 = Instant::now();
        let c = TcpStream::connect("127.0.0.1:7810").expect("connects");
        c.shutdown(Shutdown::Write).expect("FIN");
        peer.expect("eof");
        let fin_seen = Instant::now();
        // The age is the subject here: let some time pass, then read it.
        std::thread::sleep(Duration::from_millis(1500));
        let before = fin_seen.elapsed().as_secs_f64();
        let listed = listing(RowFilter {
            states: states(&[TcpState::CloseWait]),
            ..RowFilter::default()
        });
        let l = listed.view();
        let upper = t0.elapsed().as_secs_f64();
        assert_eq!(l.rows.len(), 1);
        let r = &l.rows[0];
        let age = r.age_s.expect("CLOSE_WAIT has an age");
        // Jiffies make the kernel's clock ~10 ms coarse at worst.
        assert!(
            age >= before - 0.02 && age <= upper + 0.02,
            "age {age} outside [{before}, {upper}]"
        );
        assert_eq!(r.owners.len(), 1);
        assert_eq!(r.owners[0].pid, peer.pid());
        assert_eq!(
            l.process(r.owners[0].pid).map(|p| p.comm.as_str()),
            Some("python3")
        );
        drop(c);
    })
    .expect("namespace");
}

#[test]
#[ignore = "needs root"]
fn inbound_time_wait_goes_to_the_listener_that_closed_first() {
    run_in_private_netns(|| {
        let mut peer = Peer::start(7820);
        for _ in 0..2 {
            // The peer closes first as a server; we read its FIN and close.
            let mut c = TcpStream::connect("127.0.0.1:7821").expect("connects");
            peer.expect("closed");
            let mut sink = Vec::new();
            c.read_to_end(&mut sink).expect("EOF from the server's FIN");
        }
        // Our FINs reach the peer's side in softirq after close() returns.
        let tw = || {
            listing(RowFilter {
                states: states(&[TcpState::TimeWait]),
                ..RowFilter::default()
            })
            .view()
            .rows
            .len()
        };
        wait_until("two TIME_WAIT on the peer's side", || Ok(tw() == 2)).expect("settles");
        let listed = listing(RowFilter {
            states: states(&[TcpState::TimeWait]),
            ..RowFilter::default()
        });
        let l = listed.view();
        for r in &l.rows {
            assert_eq!(
                r.socket.local.port, 7821,
                "the server side holds TIME_WAIT: {r:?}"
            );
            assert_eq!(r.side, Some(Side::Inbound));
            assert!(
                r.owners.is_empty(),
                "TIME_WAIT has no owner, only a likely one"
            );
            assert_eq!(r.likely_owners.len(), 1);
            assert_eq!(r.likely_owners[0], peer.pid(), "the listener's process");
            assert_eq!(
                l.process(peer.pid()).map(|p| p.comm.as_str()),
                Some("python3")
            );
            let age = r.age_s.expect("TIME_WAIT age from its timer");
            assert!((0.0..=60.0).contains(&age));
        }
        // census --by process counts them under the likely owner, marked so.
        let r = census_by_process(TcpState::TimeWait);
        assert_eq!(r.groups.len(), 1);
        assert_eq!(
            r.groups[0].top,
            vec![(GroupKey::LikelyProcess(peer.pid()), 2)]
        );
        assert_eq!(
            r.processes.iter().map(|p| p.pid).collect::<Vec<_>>(),
            vec![peer.pid()]
        );
    })
    .expect("namespace");
}

#[test]
#[ignore = "needs root"]
fn outbound_time_wait_goes_to_the_process_talking_to_the_same_upstream() {
    run_in_private_netns(|| {
        // Upstream: a listener in this process that accepts and reads EOF,
        // then closes, so the client (which closed first) ends in TIME_WAIT.
        let l = std::net::TcpListener::bind("127.0.0.1:7830").expect("binds");
        let keep = TcpStream::connect("127.0.0.1:7830").expect("connects");
        let (_keep_srv, _) = l.accept().expect("accepts");
        for _ in 0..3 {
            let c = TcpStream::connect("127.0.0.1:7830").expect("connects");
            let (mut s, _) = l.accept().expect("accepts");
            c.shutdown(Shutdown::Write).expect("FIN");
            let mut sink = Vec::new();
            s.read_to_end(&mut sink).expect("EOF");
            drop(s);
            let mut c = c;
            c.read_to_end(&mut sink)
                .expect("server FIN arrived: TIME_WAIT");
        }
        let listed = listing(RowFilter {
            states: states(&[TcpState::TimeWait]),
            ..RowFilter::default()
        });
        let rows = listed.view().rows;
        assert_eq!(rows.len(), 3);
        for r in &rows {
            assert_eq!(r.side, Some(Side::Outbound), "{r:?}");
            assert_eq!(r.socket.remote.to_string(), "127.0.0.1:7830");
            assert_eq!(r.likely_owners.as_slice(), &[std::process::id()]);
        }
        drop(keep);
    })
    .expect("namespace");
}

#[test]
#[ignore = "needs root"]
fn census_by_process_counts_close_wait_under_the_leaking_process() {
    run_in_private_netns(|| {
        let mut peer = Peer::start(7840);
        let mut clients = Vec::new();
        for _ in 0..4 {
            let c = TcpStream::connect("127.0.0.1:7840").expect("connects");
            c.shutdown(Shutdown::Write).expect("FIN");
            peer.expect("eof");
            clients.push(c);
        }
        let r = census_by_process(TcpState::CloseWait);
        assert_eq!(r.total, 4);
        assert_eq!(r.groups[0].top, vec![(GroupKey::Process(peer.pid()), 4)]);
        let p = &r.processes[0];
        assert_eq!(p.comm, "python3");
        assert!(
            p.fd_count >= 6,
            "2 listeners + 4 leaked sockets + stdio: {}",
            p.fd_count
        );
    })
    .expect("namespace");
}

#[test]
#[ignore = "needs root"]
fn every_namespace_is_read_with_its_own_sockets_and_owners() {
    use std::sync::{Barrier, mpsc};
    // Two private namespaces live at once, each on its own thread.
    let ready = Barrier::new(3);
    let done = Barrier::new(3);
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        for (port, pairs) in [(7850u16, 2u64), (7860u16, 5u64)] {
            let (ready, done, tx) = (&ready, &done, tx.clone());
            s.spawn(move || {
                run_in_private_netns(|| {
                    let pop = build_established(port, pairs).expect("builds");
                    converge(&pop.expected);
                    let ino = std::fs::metadata("/proc/thread-self/ns/net")
                        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
                        .expect("ns");
                    tx.send((ino, pop.total(), pop.inodes())).expect("send");
                    ready.wait();
                    done.wait();
                })
                .expect("namespace");
            });
        }
        ready.wait();
        let built: BTreeMap<u64, (u64, Vec<u64>)> = rx
            .iter()
            .take(2)
            .map(|(i, t, inos)| (i, (t, inos)))
            .collect();
        let result = std::panic::catch_unwind(|| {
            let q = SocketQuery::default();
            let CensusOutcome::Multi(m) = plan::census(
                &ProcRoot::live(),
                &NetnsSelector::All,
                &q,
                SourceChoice::Auto,
                None,
                10,
            )
            .expect("census") else {
                panic!("--netns all gives every namespace")
            };
            for (ino, (total, _)) in &built {
                let r = m
                    .namespaces
                    .iter()
                    .find(|r| r.netns.as_ref().is_some_and(|n| n.inode == *ino))
                    .expect("namespace found");
                assert_eq!(r.total, *total, "namespace {ino}");
                assert_eq!(
                    r.netns.as_ref().and_then(|n| n.pid),
                    Some(std::process::id()),
                    "labelled with a process inside it"
                );
            }
            let listed = listing_in(&NetnsSelector::All, RowFilter::default());
            let l = listed.view();
            for (ino, (_, inodes)) in &built {
                let rows: Vec<_> = l.rows.iter().filter(|r| r.netns == Some(*ino)).collect();
                for inode in inodes {
                    let r = rows
                        .iter()
                        .find(|r| r.socket.inode == *inode)
                        .expect("socket listed in its namespace");
                    assert_eq!(r.owners.first().map(|o| o.pid), Some(std::process::id()));
                }
            }
        });
        done.wait();
        if let Err(p) = result {
            std::panic::resume_unwind(p);
        }
    });
}
