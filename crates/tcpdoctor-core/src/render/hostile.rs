//! Every text renderer fed a host whose process, cgroup, namespace and
//! sysctl names were chosen to attack the terminal: none of their control,
//! C1 or bidi characters reaches the output, only their escapes.

use super::untrusted::escaped;
use crate::diagnose::{self, Selection, Thresholds};
use crate::model::{
    CloseOrder, Closer, CollectReport, ConnectionEnd, EndKind, FdRef, GroupSummary, NsSnapshot,
    Process, RowFilter, Snapshot, Socket, SourceUsed, TcpInfo, TcpState, TraceSummary, by_process,
    rows,
};

/// Sets the window title, clears the screen, breaks the line, turns the
/// line around, and the same with the 8-bit CSI.
const HOSTILE: &str = "\x1b]0;pwned\x07\x1b[2J\x1b[H\r\n\tx\u{9b}2J\u{202e}\u{2066}\x7f";
/// How it reads once shown.
const SHOWN: &str = "\\x1b]0;pwned\\x07\\x1b[2J\\x1b[H\\r\\n\\tx\\u{9b}2J\\u{202e}\\u{2066}\\x7f";

/// Fails when `out` holds a character the terminal would obey, other than
/// the renderer's own line ends, or does not show the hostile name.
fn assert_harmless(what: &str, out: &[u8]) {
    let text = std::str::from_utf8(out).expect("utf-8 output");
    for line in text.split('\n') {
        let bad: Vec<char> = line.chars().filter(|c| escaped(*c)).collect();
        assert!(bad.is_empty(), "{what}: {bad:?} reached the line {line:?}");
    }
    assert!(
        text.contains(SHOWN),
        "{what}: the escaped name is shown:\n{text}"
    );
}

/// A CLOSE_WAIT leak in a process whose every name is hostile.
fn snapshot() -> Snapshot {
    let mut ns = NsSnapshot::default();
    ns.netns.current = true;
    ns.netns.inode = 4026531840;
    ns.netns.name = Some(HOSTILE.into());
    ns.host.kernel_release = Some(HOSTILE.into());
    ns.host.sysctls.insert(HOSTILE.into(), HOSTILE.into());
    ns.host
        .sysctls
        .insert("net.ipv4.ip_local_port_range".into(), HOSTILE.into());
    ns.host.tcp_ext.insert(HOSTILE.into(), 7);
    let mut snap = Snapshot::default();
    let ep = |s: &str| s.parse().expect("ip:port");
    for i in 0..200u16 {
        let mut s = Socket::new(
            TcpState::CloseWait,
            ep("10.0.0.1:8080"),
            ep(&format!("10.0.0.2:{}", 40000 + i)),
        );
        s.inode = 1000 + u64::from(i);
        s.info = Some(Box::new(TcpInfo {
            last_ack_recv_ms: 600_000,
            ..TcpInfo::default()
        }));
        let fd = FdRef {
            pid: 4242,
            fd: 3 + u32::from(i),
        };
        snap.owners.by_inode.entry(s.inode).or_default().push(fd);
        ns.sockets.push(s);
    }
    snap.owners.processes.insert(
        4242,
        Process {
            pid: 4242,
            comm: HOSTILE.into(),
            cmdline: HOSTILE.into(),
            cgroup: Some(HOSTILE.into()),
            fd_count: 210,
            nofile_soft: Some(256),
            nofile_hard: Some(1024),
            ..Process::default()
        },
    );
    snap.namespaces.push(ns);
    snap.notes.push(HOSTILE.into());
    snap
}

fn report() -> CollectReport {
    CollectReport {
        source: SourceUsed::Netlink,
        notes: Vec::new(),
    }
}

#[test]
fn sockets_table_narrow_and_wide() {
    let snap = snapshot();
    let listing = rows(&snap, &RowFilter::default());
    for wide in [false, true] {
        let mut out = Vec::new();
        super::sockets::text(&listing, wide, &mut out).expect("render");
        assert_harmless("sockets", &out);
        assert_eq!(
            out.iter().filter(|b| **b == b'\n').count(),
            listing.rows.len() + 1,
            "one line per row and the header"
        );
    }
}

#[test]
fn census_by_process() {
    let snap = snapshot();
    let listing = rows(&snap, &RowFilter::default());
    let mut r = by_process(listing.rows, &snap.owners, 10, &[], report());
    r.netns = snap.namespaces.first().map(|n| n.netns.clone());
    r.hint = Some(HOSTILE.into());
    let mut out = Vec::new();
    super::census::text(&r, &mut out).expect("render");
    assert_harmless("census", &out);
    assert!(String::from_utf8_lossy(&out).contains(&format!("4242/{SHOWN}")));
}

#[test]
fn diagnosis_findings_and_the_sysctl_snippet() {
    let snap = snapshot();
    let d = diagnose::run(&snap, &Thresholds::default(), Selection::All);
    assert!(
        d.findings.iter().any(|f| f.title.contains(HOSTILE)),
        "a finding names the process: {:?}",
        d.findings.iter().map(|f| &f.title).collect::<Vec<_>>()
    );
    let mut out = Vec::new();
    super::diagnose::text(&d, &mut out).expect("render");
    assert_harmless("diagnose", &out);
    let mut d = d;
    for f in &mut d.findings {
        f.title = HOSTILE.into();
        f.explanation = HOSTILE.into();
        f.remedy = HOSTILE.into();
        f.netns = Some(HOSTILE.into());
        f.recommend = Some(diagnose::Recommendation {
            key: HOSTILE.into(),
            value: Some(HOSTILE.into()),
            location: Some(HOSTILE.into()),
        });
    }
    let mut out = Vec::new();
    super::diagnose::text(&d, &mut out).expect("render");
    assert_harmless("diagnose, every field", &out);
    let mut out = Vec::new();
    super::diagnose::emit(&d, &mut out).expect("render");
    assert_harmless("sysctl --emit", &out);
    let verdict = diagnose::sysctls::LineVerdict {
        location: HOSTILE.into(),
        key: HOSTILE.into(),
        value: HOSTILE.into(),
        level: diagnose::sysctls::Level::Risky,
        reason: HOSTILE.into(),
    };
    let mut out = Vec::new();
    super::diagnose::lines(&[verdict], &mut out).expect("render");
    assert_harmless("sysctl line by line", &out);
}

#[test]
fn host_kernel_counters_and_sysctls() {
    let snap = snapshot();
    let h = &snap.namespaces[0].host;
    for all in [false, true] {
        let mut out = Vec::new();
        super::host::text(h, all, &mut out).expect("render");
        assert_harmless("host", &out);
    }
}

#[test]
fn trace_lines_and_summary() {
    let closer = Closer {
        pid: 4242,
        comm: HOSTILE.into(),
        cgroup: Some(HOSTILE.into()),
        order: CloseOrder::First,
        closed_s_ago: 0.5,
    };
    let e = ConnectionEnd {
        at_unix_s: 1.0,
        netns: 4026531840,
        local: "10.0.0.1:8080".parse().expect("ep"),
        remote: "10.0.0.2:40000".parse().expect("ep"),
        end: EndKind::ClosedFirst,
        closer: Some(closer),
        opened: None,
        lifetime_s: Some(0.2),
        cookie: 1,
    };
    let mut out = Vec::new();
    super::trace::line(&e, &mut out).expect("render");
    assert_harmless("trace line", &out);
    let group = GroupSummary {
        netns: 4026531840,
        endpoint: "10.0.0.2:443".parse().expect("ep"),
        opened: 1,
        opens_per_s: 1.0,
        ended: 1,
        time_wait_made_by: vec![(format!("4242/{HOSTILE}"), 1)],
        fin_wait2_made_by: vec![(HOSTILE.into(), 1)],
        closed_after_peer_by: vec![(HOSTILE.into(), 1)],
        resets: 0,
    };
    let s = TraceSummary {
        window_s: 1.0,
        ends: 1,
        lost: 0,
        upstreams: vec![group.clone()],
        listening_ports: vec![group],
        notes: vec![HOSTILE.into()],
    };
    let mut out = Vec::new();
    super::trace::summary(&s, &mut out).expect("render");
    assert_harmless("trace summary", &out);
}

#[test]
fn wrapped_text_shows_what_it_wraps() {
    let mut out = Vec::new();
    super::text::wrap(&format!("{HOSTILE} {HOSTILE}"), 20, "  ", &mut out).expect("wrap");
    assert_harmless("wrap", &out);
}
