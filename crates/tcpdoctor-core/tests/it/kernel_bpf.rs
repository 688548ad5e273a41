//! The eBPF sources against the real kernel and against the sources they
//! replace: the hash-walk and iter/tcp censuses equal the netlink census on
//! every state (in the host's shared table and in a namespace's own), the
//! iter/task_file owners equal the /proc scan's, across namespaces.
//! Needs root (CAP_BPF, CAP_PERFMON); skipped otherwise.

use crate::support::converge;
use std::collections::BTreeMap;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use tcpdoctor_core::collect::bpf::census::{IterCensus, StateCounts};
use tcpdoctor_core::collect::bpf::closers::Tracer;
use tcpdoctor_core::collect::bpf::owners::IterOwners;
use tcpdoctor_core::collect::bpf::walk::WalkCensus;
use tcpdoctor_core::collect::owners::{self, InodeFilter};
use tcpdoctor_core::collect::plan::{self, SnapshotPlan};
use tcpdoctor_core::collect::{self, ProcRoot, SocketQuery, SourceChoice};
use tcpdoctor_core::model::{Census, OwnerIndex, StateSet};
use tcpdoctor_core::model::{
    CloseOrder, ConnectionEnd, EndKind, Needs, NetnsSelector, Opened, RowFilter, TcpState, rows,
};
use tcpdoctor_testkit::netns::run_in_private_netns;
use tcpdoctor_testkit::states::build_every_state;
use tcpdoctor_testkit::wait_until;

/// Asserts that `counts` equal the netlink census of the calling thread's
/// namespace, `netlink`, in total and for each family apart.
fn assert_counts_equal_netlink(counts: &StateCounts, netlink: &BTreeMap<TcpState, u64>, by: &str) {
    let mut c = Census::new(None);
    counts.add_to(&mut c, StateSet::all(), true, true);
    let in_kernel: BTreeMap<_, _> = c.states().into_iter().collect();
    assert_eq!(&in_kernel, netlink, "{by} and sock_diag count alike");
    for (ipv4, ipv6) in [(true, false), (false, true)] {
        let mut in_kernel = Census::new(None);
        counts.add_to(&mut in_kernel, StateSet::all(), ipv4, ipv6);
        let mut by_netlink = Census::new(None);
        let q = SocketQuery {
            ipv4,
            ipv6,
            ..SocketQuery::default()
        };
        collect::collect_sockets(
            &ProcRoot::live(),
            &q,
            SourceChoice::Netlink,
            &mut by_netlink,
        )
        .expect("dumps");
        assert_eq!(
            in_kernel.states(),
            by_netlink.states(),
            "{by}: ipv4 {ipv4}, ipv6 {ipv6}"
        );
    }
}

#[test]
#[ignore = "needs root"]
fn kernel_censuses_equal_netlink_on_every_state() {
    let iter = IterCensus::load().expect("the iter/tcp program loads (root, BTF)");
    let walk = WalkCensus::load().expect("the hash-walk program loads (root, BTF, 6.1+)");
    run_in_private_netns(|| {
        let pop = build_every_state(7600, 3).expect("builds sockets in every state");
        let netlink = converge(&pop.expected);
        // The host's table holds every namespace's sockets (and this
        // process's other tests' meanwhile): both count only this one's.
        assert_counts_equal_netlink(&iter.count().expect("iterates"), &netlink, "iter/tcp");
        let (counts, report) = walk.count().expect("walks");
        assert_counts_equal_netlink(&counts, &netlink, "the hash walk");
        assert!(report.buckets >= 128, "the host's table: {report:?}");
    })
    .expect("private namespace");
}

#[test]
#[ignore = "needs root"]
fn hash_walk_counts_a_namespace_with_a_small_table_of_its_own() {
    let walk = WalkCensus::load().expect("the hash-walk program loads (root, BTF, 6.1+)");
    run_in_private_netns(|| {
        // A namespace made from this one gets a table of 128 buckets (the
        // smallest), so ~400 sockets make chains of several each.
        std::fs::write("/proc/sys/net/ipv4/tcp_child_ehash_entries", "128")
            .expect("sets tcp_child_ehash_entries (kernel 6.1+)");
        run_in_private_netns(|| {
            let own = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_ehash_entries")
                .expect("reads tcp_ehash_entries");
            assert_eq!(
                own.trim(),
                "128",
                "a table of its own (negative: the host's)"
            );
            // A namespace's TIME_WAIT limit defaults to half its table.
            std::fs::write("/proc/sys/net/ipv4/tcp_max_tw_buckets", "4096")
                .expect("raises tcp_max_tw_buckets");
            let pop = build_every_state(7900, 40).expect("builds sockets in every state");
            let netlink = converge(&pop.expected);
            assert!(netlink.values().sum::<u64>() >= 300, "{netlink:?}");
            let (counts, report) = walk.count().expect("walks");
            assert_eq!(report.buckets, 128, "walked the namespace's own table");
            assert_counts_equal_netlink(&counts, &netlink, "the hash walk");
        })
        .expect("nested private namespace");
    })
    .expect("private namespace");
}

/// The walk reads the kernel's hash chains without their locks, as its
/// lockless lookups do: while connections open and close around it, every
/// walk must finish, count the one steady listener exactly, and never
/// count more sockets than the churn could have made.
#[test]
#[ignore = "needs root"]
fn hash_walk_finishes_and_counts_steady_sockets_exactly_under_churn() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let walk = WalkCensus::load().expect("the hash-walk program loads (root, BTF, 6.1+)");
    run_in_private_netns(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("listens");
        let addr = listener.local_addr().expect("address");
        let (stop, made) = (AtomicBool::new(false), AtomicU64::new(0));
        std::thread::scope(|scope| {
            // The server closes first (its side goes to TIME_WAIT), the
            // clients read to EOF and close: every state of a close passes.
            // It serves until its listener is shut down, after the clients
            // have stopped: a client must never wait on a connection that
            // nobody will accept.
            let server = scope.spawn(|| {
                for conn in listener.incoming() {
                    match conn {
                        Ok(c) => drop(c),
                        Err(_) => break,
                    }
                }
            });
            let clients: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| {
                        while !stop.load(Ordering::Relaxed) {
                            if let Ok(mut c) = TcpStream::connect(addr) {
                                let _ = c.read_to_end(&mut Vec::new());
                                made.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    })
                })
                .collect();
            // Walk until the churn has made 20,000 connections meanwhile
            // (and at least 100 times): progress, not time, ends it.
            let first = made.load(Ordering::Relaxed);
            let mut walks = 0;
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                while walks < 100 || made.load(Ordering::Relaxed) < first + 20_000 {
                    let (counts, _) = walk.count().expect("every walk finishes");
                    walks += 1;
                    let listen = TcpState::Listen.kernel_number() as usize;
                    assert_eq!(counts.ipv4[listen], 1, "the one listener, walk {walks}");
                    let total: u64 = counts.ipv4.iter().chain(&counts.ipv6).sum();
                    let bound = 2 * made.load(Ordering::Relaxed) + 2 * 64 + 1;
                    assert!(
                        total <= bound,
                        "walk {walks}: {total} sockets, at most {bound}"
                    );
                }
            }));
            stop.store(true, Ordering::Relaxed);
            for c in clients {
                c.join().expect("a client thread");
            }
            // SAFETY: shutdown(2) on the listener's own descriptor; it
            // wakes the blocked accept, which then fails and ends the loop.
            unsafe {
                libc::shutdown(std::os::fd::AsRawFd::as_raw_fd(&listener), libc::SHUT_RDWR);
            }
            server.join().expect("the server thread");
            if let Err(panic) = result {
                std::panic::resume_unwind(panic);
            }
        });
    })
    .expect("private namespace");
}

#[test]
#[ignore = "needs root"]
fn task_file_owners_equal_the_proc_scan_across_namespaces() {
    let iter = IterOwners::load().expect("the owners program loads (root, BTF)");
    let (a, b) = (
        run_in_private_netns(|| build_every_state(7700, 2).expect("builds")).expect("netns"),
        run_in_private_netns(|| build_every_state(7800, 2).expect("builds")).expect("netns"),
    );
    let built: std::collections::HashSet<u64> = a.inodes().into_iter().chain(b.inodes()).collect();
    // A quiet process of our own with five listening sockets: its fds do
    // not change between the two scans, so they must agree exactly.
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import socket, sys\n\
             s = [socket.socket() for _ in range(5)]\n\
             [x.bind(('127.0.0.1', 0)) or x.listen() for x in s]\n\
             print('ready', flush=True)\n\
             sys.stdin.read()",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starts python3");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().expect("stdout")),
        &mut line,
    )
    .expect("reads ready");
    assert_eq!(line.trim(), "ready");
    let root = ProcRoot::live();
    let by_proc = owners::scan(&root, &InodeFilter::All).expect("scans /proc");
    let pass = iter.scan(&root, &InodeFilter::All).expect("iterates");
    let by_iter = &pass.owners;
    drop(child.stdin.take());
    child.wait().expect("python3 ends when its stdin closes");
    // Other processes, and this one's other tests, open and close fds
    // between the two scans: compare exactly the sockets this test built
    // and python's.
    let held_by = |idx: &OwnerIndex, pid: u32| {
        let mut v: Vec<_> = idx
            .by_inode
            .iter()
            .filter(|(ino, h)| {
                h.iter().any(|f| f.pid == pid) && (pid != std::process::id() || built.contains(ino))
            })
            .map(|(ino, h)| (*ino, h.to_vec()))
            .collect();
        v.sort();
        v
    };
    let (me, py) = (std::process::id(), child.id());
    assert!(
        held_by(&by_proc, me).len() >= 20,
        "the built sockets are seen"
    );
    assert_eq!(
        held_by(&by_proc, me).len(),
        built.len(),
        "every built socket with a file, in both namespaces"
    );
    assert_eq!(
        held_by(by_iter, me),
        held_by(&by_proc, me),
        "same sockets, same fds"
    );
    assert_eq!(held_by(&by_proc, py).len(), 5, "python's five listeners");
    assert_eq!(held_by(by_iter, py), held_by(&by_proc, py));
    let details = |idx: &OwnerIndex| idx.process(py).cloned();
    assert_eq!(
        details(by_iter),
        details(&by_proc),
        "same details and fd count"
    );
    assert!(details(by_iter).is_some_and(|p| p.fd_count >= 8 && p.comm == "python3"));
    // The pass read each socket itself: python's listeners in this
    // namespace, every built socket once, in its own namespace.
    let host_ns = thread_netns();
    let py_inodes: Vec<u64> = held_by(by_iter, py).into_iter().map(|(i, _)| i).collect();
    let listeners: Vec<_> = pass
        .sockets
        .iter()
        .filter(|p| py_inodes.contains(&p.socket.inode))
        .collect();
    assert_eq!(listeners.len(), 5);
    for l in listeners {
        assert_eq!(l.socket.state, TcpState::Listen, "{:?}", l.socket);
        assert_eq!(l.netns, host_ns);
        assert_eq!(l.socket.local.ip.to_string(), "127.0.0.1");
    }
    let seen: Vec<_> = pass
        .sockets
        .iter()
        .filter(|p| built.contains(&p.socket.inode))
        .collect();
    assert_eq!(seen.len(), built.len(), "each built socket once");
    assert!(
        seen.iter().all(|p| p.netns != host_ns),
        "in the test's namespaces"
    );
}

/// The inode of the calling thread's network namespace.
fn thread_netns() -> u64 {
    std::fs::metadata("/proc/thread-self/ns/net")
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .expect("reads the thread's namespace")
}

/// A connection over loopback: the listener, the client, the client's
/// port and the accepted end.
fn connection() -> (TcpListener, TcpStream, u16, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listens");
    let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connects");
    let client_port = client.local_addr().expect("addr").port();
    let (server, _) = listener.accept().expect("accepts");
    (listener, client, client_port, server)
}

/// The ends `tracer` reports in namespace `ns` until `done` holds of them.
fn ends_until(
    tracer: &mut Tracer,
    ns: u64,
    what: &str,
    done: impl Fn(&[ConnectionEnd]) -> bool,
) -> Vec<ConnectionEnd> {
    let mut ends: Vec<ConnectionEnd> = Vec::new();
    wait_until(what, || {
        ends.extend(tracer.drain()?.into_iter().filter(|e| e.netns == ns));
        Ok(done(&ends))
    })
    .unwrap_or_else(|e| panic!("{e}: {ends:#?}"));
    ends
}

#[test]
#[ignore = "needs root"]
fn trace_reports_active_and_passive_closes_with_their_processes() {
    let mut tracer = Tracer::start().expect("the tracer loads (root, BTF)");
    run_in_private_netns(|| {
        let ns = thread_netns();
        let (listener, client, client_port, mut server) = connection();
        drop(client); // closes first
        let mut buf = [0u8; 16];
        assert_eq!(server.read(&mut buf).expect("reads"), 0, "EOF");
        drop(server); // closes last
        let ends = ends_until(&mut tracer, ns, "both ends traced", |e| e.len() >= 2);
        let me = std::process::id();
        let comm = std::fs::read_to_string("/proc/self/comm").expect("comm");
        let first = ends
            .iter()
            .find(|e| e.local.port == client_port)
            .unwrap_or_else(|| panic!("the client's end (port {client_port}) in {ends:#?}"));
        assert_eq!(first.end, EndKind::ClosedFirst, "{first:?}");
        assert_eq!(first.opened, Some(Opened::Connected));
        assert!(first.lifetime_s.is_some_and(|l| l >= 0.0));
        let c = first.closer.as_ref().expect("who closed first");
        assert_eq!((c.pid, c.comm.as_str()), (me, comm.trim_end()));
        assert_eq!(c.order, CloseOrder::First);
        let last = ends
            .iter()
            .find(|e| e.remote.port == client_port)
            .expect("the server's end");
        assert_eq!(last.end, EndKind::ClosedLast, "{last:?}");
        assert_eq!(last.opened, Some(Opened::Accepted));
        let c = last.closer.as_ref().expect("who closed last");
        assert_eq!((c.pid, c.order), (me, CloseOrder::Last));
        assert_eq!(tracer.lost(), 0);
        let opens = tracer.opens().expect("reads the open counts");
        let accepted = opens
            .iter()
            .find(|o| o.netns == ns && o.opened == Opened::Accepted)
            .expect("the accept is counted under the listening port");
        assert_eq!(
            (accepted.endpoint.to_string(), accepted.count),
            (listener.local_addr().expect("addr").to_string(), 1),
            "under the listener's own address (127.0.0.1), not 0.0.0.0"
        );
    })
    .expect("private namespace");
}

/// A client that closes first toward a server that never closes leaves a
/// FIN_WAIT2 orphan, not a TIME_WAIT: the tracer once said TIME_WAIT.
#[test]
#[ignore = "needs root"]
fn closing_first_toward_a_peer_that_never_closes_is_a_fin_wait2_orphan() {
    let mut tracer = Tracer::start().expect("the tracer loads (root, BTF)");
    run_in_private_netns(|| {
        let ns = thread_netns();
        let (_listener, client, client_port, _server_never_closes) = connection();
        drop(client);
        let ends = ends_until(&mut tracer, ns, "the client's end traced", |e| {
            e.iter().any(|e| e.local.port == client_port)
        });
        let end = ends
            .iter()
            .find(|e| e.local.port == client_port)
            .expect("found");
        assert_eq!(end.end, EndKind::ClosedFirstPeerOpen, "{end:?}");
        assert_eq!(
            end.end.label(),
            "closed first -> FIN_WAIT2, the peer had not closed"
        );
        let c = end.closer.as_ref().expect("who closed first");
        assert_eq!((c.pid, c.order), (std::process::id(), CloseOrder::First));
    })
    .expect("private namespace");
}

#[test]
#[ignore = "needs root"]
fn the_closer_of_a_time_wait_is_exact_after_its_process_exited() {
    let _tracer = Tracer::start().expect("the tracer loads (root, BTF)");
    run_in_private_netns(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("listens");
        let port = listener.local_addr().expect("addr").port();
        // A client that connects, closes first and exits at once.
        let mut child = Command::new("python3")
            .args([
                "-c",
                &format!(
                    "import socket\ns = socket.create_connection(('127.0.0.1', {port}))\n\
                     s.close()"
                ),
            ])
            .spawn()
            .expect("starts python3");
        let (mut server, _) = listener.accept().expect("accepts");
        let mut buf = [0u8; 16];
        assert_eq!(server.read(&mut buf).expect("reads"), 0, "EOF");
        drop(server);
        assert!(child.wait().expect("python3 exits").success());
        let pid = child.id();
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "it is gone"
        );
        let filter = RowFilter {
            states: Some([TcpState::TimeWait].into_iter().collect()),
            ..RowFilter::default()
        };
        let mut snap = None;
        wait_until("the client's socket is in TIME_WAIT", || {
            let plan = SnapshotPlan {
                filter: filter.clone(),
                ..SnapshotPlan::new(Needs::OWNERS)
            };
            let s = plan::snapshot(&ProcRoot::live(), &NetnsSelector::Current, &plan)
                .map_err(std::io::Error::other)?;
            let found = rows(&s, &filter).rows.len() == 1;
            snap = Some(s);
            Ok(found)
        })
        .expect("one TIME_WAIT");
        let snap = snap.expect("a snapshot");
        let listing = rows(&snap, &filter);
        let row = &listing.rows[0];
        let c = row.closed_by.expect("an exact closer");
        assert_eq!(
            (c.pid, c.comm.as_str(), c.order),
            (pid, "python3", CloseOrder::First)
        );
        assert!(
            row.likely_owners.is_empty(),
            "no guess where the kernel told"
        );
    })
    .expect("private namespace");
}
