//! Diagnose rules against the real kernel, in private namespaces, for the
//! rules the lab scenarios do not cover (tests/it/lab.rs covers those).
//! Needs root; skipped otherwise.

use crate::support::converge;
use tcpdoctor_core::collect::ProcRoot;
use tcpdoctor_core::collect::plan::{self, SnapshotPlan};
use tcpdoctor_core::diagnose::{self, Diagnosis, Selection, Severity, Thresholds};
use tcpdoctor_core::model::NetnsSelector;
use tcpdoctor_testkit::netns::run_in_private_netns;
use tcpdoctor_testkit::set_netns_sysctl;
use tcpdoctor_testkit::states::{build_established, build_every_state, build_orphans};

fn diagnose(thresholds: Thresholds) -> Diagnosis {
    let plan = SnapshotPlan {
        interval: std::time::Duration::ZERO,
        sysctl_files: Vec::new(),
        ..SnapshotPlan::new(Selection::All.needs())
    };
    let snap = plan::snapshot(&ProcRoot::live(), &NetnsSelector::Current, &plan).expect("snapshot");
    diagnose::run(&snap, &thresholds, Selection::All)
}

fn severity_of(d: &Diagnosis, id: &str) -> Option<Severity> {
    d.findings
        .iter()
        .filter(|f| f.id == id)
        .map(|f| f.severity)
        .max()
}

#[test]
#[ignore = "needs root"]
fn a_healthy_namespace_has_nothing_above_info() {
    run_in_private_netns(|| {
        let pop = build_established(7950, 20).expect("builds");
        converge(&pop.expected);
        let d = diagnose(Thresholds::default());
        assert_eq!(d.summary.exit_code(), 0, "{:#?}", d.findings);
        assert!(d.findings.iter().all(|f| f.severity == Severity::Info));
    })
    .expect("namespace");
}

#[test]
#[ignore = "needs root"]
fn syn_backlog_and_syncookies_off_are_found() {
    run_in_private_netns(|| {
        // Two SYN_RECV request sockets (TCP_DEFER_ACCEPT) against a SYN
        // backlog of 2, with syncookies off.
        let pop = build_every_state(7960, 2).expect("builds");
        converge(&pop.expected);
        set_netns_sysctl("net.ipv4.tcp_max_syn_backlog", "2").expect("sysctl");
        set_netns_sysctl("net.ipv4.tcp_syncookies", "0").expect("sysctl");
        let d = diagnose(Thresholds::default());
        assert_eq!(
            severity_of(&d, "syn-backlog"),
            Some(Severity::Warning),
            "{:#?}",
            d.findings
        );
        assert_eq!(
            severity_of(&d, "sysctl-syncookies"),
            Some(Severity::Warning)
        );
        let f = d
            .findings
            .iter()
            .find(|f| f.id == "syn-backlog")
            .expect("finding");
        assert_eq!(f.evidence.get("syn_recv"), Some(&serde_json::json!(2.0)));
        assert_eq!(d.summary.exit_code(), 1);
    })
    .expect("namespace");
}

#[test]
#[ignore = "needs root"]
fn tw_reuse_without_timestamps_and_a_lowered_fin_timeout_are_found() {
    run_in_private_netns(|| {
        set_netns_sysctl("net.ipv4.tcp_tw_reuse", "1").expect("sysctl");
        set_netns_sysctl("net.ipv4.tcp_timestamps", "0").expect("sysctl");
        set_netns_sysctl("net.ipv4.tcp_fin_timeout", "10").expect("sysctl");
        let d = diagnose(Thresholds::default());
        assert_eq!(
            severity_of(&d, "sysctl-tw-reuse-no-timestamps"),
            Some(Severity::Warning),
            "{:#?}",
            d.findings
        );
        // Live only (no file asked for it): harmless, so info, but said.
        assert_eq!(severity_of(&d, "sysctl-fin-timeout"), Some(Severity::Info));
        let f = d
            .findings
            .iter()
            .find(|f| f.id == "sysctl-fin-timeout")
            .expect("finding");
        assert!(f.explanation.contains("does not change TIME_WAIT"));
    })
    .expect("namespace");
}

#[test]
#[ignore = "needs root"]
fn orphans_are_counted_against_tcp_max_orphans() {
    run_in_private_netns(|| {
        let pop = build_orphans(7970, 4).expect("builds");
        converge(&pop.expected);
        // tcp_max_orphans is global and not ours to lower: lower the ratio.
        let mut th = Thresholds::default();
        th.set("orphan-warn", 1e-9).expect("a declared threshold");
        let d = diagnose(th);
        assert_eq!(
            severity_of(&d, "orphan-limit"),
            Some(Severity::Warning),
            "{:#?}",
            d.findings
        );
        let f = d
            .findings
            .iter()
            .find(|f| f.id == "orphan-limit")
            .expect("finding");
        assert!(
            f.evidence
                .get("orphans")
                .and_then(|v| v.as_u64())
                .is_some_and(|n| n >= 4)
        );
        // With the default threshold the same few orphans are nothing.
        assert_eq!(
            severity_of(&diagnose(Thresholds::default()), "orphan-limit"),
            None
        );
    })
    .expect("namespace");
}

#[test]
#[ignore = "needs root"]
fn tw_reuse_on_a_host_that_only_serves_is_said_to_do_nothing() {
    use std::io::Read;
    run_in_private_netns(|| {
        set_netns_sysctl("net.ipv4.tcp_tw_reuse", "1").expect("sysctl");
        // A server that closes first: once the clients are gone, all that is
        // left is the listener and TIME_WAIT on its port: only incoming.
        let l = std::net::TcpListener::bind("127.0.0.1:7980").expect("binds");
        for _ in 0..3 {
            let mut c = std::net::TcpStream::connect("127.0.0.1:7980").expect("connects");
            let (s, _) = l.accept().expect("accepts");
            drop(s);
            let mut sink = Vec::new();
            c.read_to_end(&mut sink).expect("the server's FIN");
        }
        let expected = [
            (tcpdoctor_core::model::TcpState::Listen, 1),
            (tcpdoctor_core::model::TcpState::TimeWait, 3),
        ]
        .into_iter()
        .collect();
        converge(&expected);
        let d = diagnose(Thresholds::default());
        assert_eq!(
            severity_of(&d, "sysctl-tw-reuse-inbound"),
            Some(Severity::Info),
            "{:#?}",
            d.findings
        );
        // The same host with one outgoing connection: tw_reuse may help it.
        let _out = std::net::TcpStream::connect("127.0.0.1:7980").expect("connects");
        let _in = l.accept().expect("accepts");
        assert_eq!(
            severity_of(&diagnose(Thresholds::default()), "sysctl-tw-reuse-inbound"),
            None
        );
    })
    .expect("namespace");
}
