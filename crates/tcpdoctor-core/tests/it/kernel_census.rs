//! The census against the real kernel: sockets in every state built in a
//! private network namespace, counted by tcpdoctor over netlink and over
//! /proc, and checked against what was built and against `ss`.
//! Needs root (CI runs as root); skipped with a message otherwise.

use crate::support::{census_counts, converge, ss_counts};
use tcpdoctor_core::collect::{self, ProcRoot, SocketQuery, SourceChoice};
use tcpdoctor_core::model::{Census, GroupBy, GroupKey};
use tcpdoctor_core::model::{Socket, StateSet, TcpState};
use tcpdoctor_testkit::netns::run_in_private_netns;
use tcpdoctor_testkit::states::{build_established, build_every_state};

#[test]
#[ignore = "needs root"]
fn census_sees_exactly_every_state_built_and_agrees_with_ss_and_proc() {
    run_in_private_netns(|| {
        let pop = build_every_state(7000, 2).expect("builds sockets in every state");
        for s in [
            TcpState::Listen,
            TcpState::Established,
            TcpState::SynSent,
            TcpState::SynRecv,
            TcpState::FinWait1,
            TcpState::FinWait2,
            TcpState::TimeWait,
            TcpState::CloseWait,
            TcpState::LastAck,
            TcpState::Closing,
        ] {
            assert!(
                pop.expected.get(&s).is_some_and(|n| *n > 0),
                "{s} was built"
            );
        }
        let netlink = converge(&pop.expected);
        assert_eq!(ss_counts(), pop.expected, "ss agrees");
        assert_eq!(
            census_counts(SourceChoice::Proc),
            netlink,
            "/proc/net/tcp agrees"
        );
    })
    .expect("private namespace");
}

#[test]
#[ignore = "needs root"]
fn kernel_state_filter_returns_only_the_states_asked_for() {
    run_in_private_netns(|| {
        let pop = build_every_state(7100, 1).expect("builds");
        converge(&pop.expected);
        let wanted: StateSet = [TcpState::TimeWait, TcpState::SynRecv, TcpState::FinWait2]
            .into_iter()
            .collect();
        for choice in [SourceChoice::Netlink, SourceChoice::Proc] {
            let mut got: Vec<Socket> = Vec::new();
            let q = SocketQuery {
                states: wanted,
                ..SocketQuery::default()
            };
            collect::collect_sockets(&ProcRoot::live(), &q, choice, &mut got).expect("collects");
            for s in &got {
                assert!(wanted.contains(s.state), "{choice:?} returned {}", s.state);
            }
            let n = |st| got.iter().filter(|s| s.state == st).count() as u64;
            for st in wanted.iter() {
                assert_eq!(n(st), pop.expected[&st], "{choice:?} count of {st}");
            }
        }
    })
    .expect("private namespace");
}

#[test]
#[ignore = "needs root"]
fn time_wait_and_orphans_have_no_inode_and_time_wait_has_its_timer() {
    run_in_private_netns(|| {
        let pop = build_every_state(7200, 1).expect("builds");
        converge(&pop.expected);
        let mut all: Vec<Socket> = Vec::new();
        collect::collect_sockets(
            &ProcRoot::live(),
            &SocketQuery::default(),
            SourceChoice::Netlink,
            &mut all,
        )
        .expect("collects");
        let tw: Vec<&Socket> = all
            .iter()
            .filter(|s| s.state == TcpState::TimeWait)
            .collect();
        assert_eq!(tw.len(), 1);
        assert_eq!(tw[0].inode, 0);
        // TIME_WAIT lasts 60 s on Linux; the timer counts down from there.
        assert!(
            tw[0].timer_ms > 0 && tw[0].timer_ms <= 60_000,
            "{}",
            tw[0].timer_ms
        );
        assert!(
            all.iter()
                .filter(|s| s.state == TcpState::Listen)
                .all(|s| s.inode != 0)
        );
        assert!(all.iter().all(|s| s.cookie.is_some()));
        // The server side that read EOF and kept its fd: CLOSE_WAIT, owned.
        assert!(
            all.iter()
                .filter(|s| s.state == TcpState::CloseWait)
                .all(|s| s.inode != 0)
        );
        // One FIN_WAIT2 is an orphan mini-socket: no inode.
        assert_eq!(
            all.iter()
                .filter(|s| s.state == TcpState::FinWait2 && s.inode == 0)
                .count(),
            1
        );
    })
    .expect("private namespace");
}

#[test]
#[ignore = "needs root"]
fn tcp_info_is_returned_only_when_asked_and_matches_the_state() {
    run_in_private_netns(|| {
        let pop = build_established(7300, 5).expect("builds");
        converge(&pop.expected);
        let mut plain: Vec<Socket> = Vec::new();
        collect::collect_sockets(
            &ProcRoot::live(),
            &SocketQuery::default(),
            SourceChoice::Netlink,
            &mut plain,
        )
        .expect("collects");
        assert!(plain.iter().all(|s| s.info.is_none()));
        let mut with: Vec<Socket> = Vec::new();
        let q = SocketQuery {
            tcp_info: StateSet::all(),
            ..SocketQuery::default()
        };
        collect::collect_sockets(&ProcRoot::live(), &q, SourceChoice::Netlink, &mut with)
            .expect("collects");
        for s in &with {
            let info = s.info.as_ref().expect("tcp_info present");
            assert_eq!(info.state, s.state.kernel_number(), "{s:?}");
            assert!(info.len >= 104, "tcp_info of {} bytes", info.len);
        }
    })
    .expect("private namespace");
}

#[test]
#[ignore = "needs root"]
fn grouping_by_remote_counts_each_peer() {
    run_in_private_netns(|| {
        let pop = build_established(7400, 7).expect("builds");
        converge(&pop.expected);
        let mut c = Census::new(Some(GroupBy::LocalPort));
        collect::collect_sockets(
            &ProcRoot::live(),
            &SocketQuery::default(),
            SourceChoice::Netlink,
            &mut c,
        )
        .expect("collects");
        let groups = c.top_groups(3);
        let est = groups
            .iter()
            .find(|g| g.state == TcpState::Established)
            .expect("ESTABLISHED group");
        // 7 server sides share local port 7400; 7 clients each have their own.
        assert_eq!(est.top[0], (GroupKey::Port(7400), 7));
        assert_eq!(est.distinct, 8);
    })
    .expect("private namespace");
}

/// Regression: a failing test must not leave sockets (and so the private
/// namespace they pin) behind.
#[test]
#[ignore = "needs root"]
fn a_failing_test_leaves_no_socket_and_so_no_namespace_behind() {
    let held = std::sync::Mutex::new(Vec::new());
    let result = std::panic::catch_unwind(|| {
        run_in_private_netns(|| {
            let pop = build_established(7500, 3).expect("builds");
            held.lock().expect("lock").extend(pop.inodes());
            panic!("a failing test");
        })
    });
    assert!(result.is_err(), "the panic propagates to the caller");
    let held = held.into_inner().expect("lock");
    assert_eq!(held.len(), 7, "listener and 3 pairs were open");
    let open: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .expect("lists fds")
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|l| l.to_string_lossy().into_owned())
        .collect();
    for ino in held {
        assert!(
            !open.contains(&format!("socket:[{ino}]")),
            "socket {ino} still open"
        );
    }
}

#[test]
#[ignore = "needs root"]
fn per_family_dumps_add_up_to_the_one_walk_dump() {
    run_in_private_netns(|| {
        let pop = build_every_state(7700, 1).expect("builds");
        let both = converge(&pop.expected);
        let mut total = std::collections::BTreeMap::new();
        for (ipv4, ipv6) in [(true, false), (false, true)] {
            let mut c = Census::new(None);
            let q = SocketQuery {
                ipv4,
                ipv6,
                ..SocketQuery::default()
            };
            collect::collect_sockets(&ProcRoot::live(), &q, SourceChoice::Netlink, &mut c)
                .expect("collects");
            for (s, n) in c.states() {
                *total.entry(s).or_insert(0) += n;
            }
        }
        assert_eq!(total, both);
        assert!(
            pop.ipv6,
            "the namespace has ::1, so both families were dumped"
        );
    })
    .expect("private namespace");
}

#[test]
#[ignore = "needs root"]
fn tcp_info_for_some_states_comes_in_a_second_pass_without_double_counting() {
    run_in_private_netns(|| {
        let pop = build_every_state(7900, 1).expect("builds");
        converge(&pop.expected);
        let q = SocketQuery {
            tcp_info: [TcpState::CloseWait].into_iter().collect(),
            ..SocketQuery::default()
        };
        let mut got: Vec<Socket> = Vec::new();
        collect::collect_sockets(&ProcRoot::live(), &q, SourceChoice::Netlink, &mut got)
            .expect("collects");
        assert_eq!(got.len() as u64, pop.total());
        for s in &got {
            assert_eq!(s.info.is_some(), s.state == TcpState::CloseWait, "{s:?}");
        }
    })
    .expect("private namespace");
}
