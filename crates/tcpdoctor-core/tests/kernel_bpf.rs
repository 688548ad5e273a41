//! The eBPF sources against the real kernel and against the sources they
//! replace: the iter/tcp census equals the netlink census on every state,
//! the iter/task_file owners equal the /proc scan's, across namespaces.
//! Needs root (CAP_BPF, CAP_PERFMON); skipped otherwise.

mod support;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use support::converge;
use tcpdoctor_core::collect::bpf::census::IterCensus;
use tcpdoctor_core::collect::bpf::owners::IterOwners;
use tcpdoctor_core::collect::owners::{self, InodeFilter};
use tcpdoctor_core::collect::{self, ProcRoot, SocketQuery, SourceChoice};
use tcpdoctor_core::model::{Census, OwnerIndex, StateSet};
use tcpdoctor_testkit::netns::run_in_private_netns;
use tcpdoctor_testkit::states::build_every_state;

#[test]
#[ignore = "needs root"]
fn iterator_census_equals_netlink_on_every_state() {
    let census = IterCensus::load().expect("the census program loads (root, BTF)");
    run_in_private_netns(|| {
        let pop = build_every_state(7600, 3).expect("builds sockets in every state");
        let netlink = converge(&pop.expected);
        let counts = census.count().expect("iterates");
        let mut c = Census::new(None);
        counts.add_to(&mut c, StateSet::all(), true, true);
        let by_iter: BTreeMap<_, _> = c.states().into_iter().collect();
        assert_eq!(by_iter, netlink, "iter/tcp and sock_diag count alike");
        for (ipv4, ipv6) in [(true, false), (false, true)] {
            let mut by_iter = Census::new(None);
            counts.add_to(&mut by_iter, StateSet::all(), ipv4, ipv6);
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
                by_iter.states(),
                by_netlink.states(),
                "ipv4 {ipv4}, ipv6 {ipv6}"
            );
        }
    })
    .expect("private namespace");
}

#[test]
#[ignore = "needs root"]
fn task_file_owners_equal_the_proc_scan_across_namespaces() {
    let iter = IterOwners::load().expect("the owners program loads (root, BTF)");
    let (_a, _b) = (
        run_in_private_netns(|| build_every_state(7700, 2).expect("builds")),
        run_in_private_netns(|| build_every_state(7800, 2).expect("builds")),
    );
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
    let by_iter = iter.scan(&root, &InodeFilter::All).expect("iterates");
    drop(child.stdin.take());
    child.wait().expect("python3 ends when its stdin closes");
    // Other processes (this one's other tests among them) open and close
    // fds between the two scans: compare our processes' sockets exactly.
    let held_by = |idx: &OwnerIndex, pid: u32| {
        let mut v: Vec<_> = idx
            .by_inode
            .iter()
            .filter(|(_, h)| h.iter().any(|f| f.pid == pid))
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
        held_by(&by_iter, me),
        held_by(&by_proc, me),
        "same sockets, same fds"
    );
    assert_eq!(held_by(&by_proc, py).len(), 5, "python's five listeners");
    assert_eq!(held_by(&by_iter, py), held_by(&by_proc, py));
    let details = |idx: &OwnerIndex| idx.process(py).cloned();
    assert_eq!(
        details(&by_iter),
        details(&by_proc),
        "same details and fd count"
    );
    assert!(details(&by_iter).is_some_and(|p| p.fd_count >= 8 && p.comm == "python3"));
}
