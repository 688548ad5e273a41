//! Names a process chose for itself (comm, argv, its cgroup), as arbitrary
//! bytes, through every text renderer: what reaches the terminal holds no
//! control byte but the renderer's own newlines, no C1 control and no
//! bidi override, whatever the name.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tcpdoctor_core::model::{
    CloseOrder, Closer, ConnectionEnd, EndKind, FdRef, GroupBy, HostInfo, NsSnapshot, OwnerIndex,
    Process, RowFilter, Snapshot, Socket, TcpState, rows,
};
use tcpdoctor_core::ops::{Selection, Thresholds, analyze, diagnose_snapshot};
use tcpdoctor_core::render;

/// What a terminal must never receive from a name.
fn harmful(c: char) -> bool {
    (c.is_control() && c != '\n') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn check(what: &str, out: &[u8]) {
    let text = String::from_utf8_lossy(out);
    if let Some(c) = text.chars().find(|c| harmful(*c)) {
        panic!("{what}: {c:?} reached the terminal:\n{text}");
    }
}

fuzz_target!(|data: &[u8]| {
    let name = String::from_utf8_lossy(data).into_owned();
    let mut ns = NsSnapshot::default();
    let mut owners = OwnerIndex::default();
    // Enough CLOSE_WAIT that the leak rules name the process.
    for i in 0..120u16 {
        let mut s = Socket::new(
            TcpState::CloseWait,
            "10.0.0.1:8080".parse().expect("endpoint"),
            format!("10.0.0.2:{}", 20000 + i).parse().expect("endpoint"),
        );
        s.inode = 1000 + u64::from(i);
        owners.by_inode.entry(s.inode).or_default().push(FdRef {
            pid: 7,
            fd: 3 + u32::from(i),
        });
        ns.sockets.push(s);
    }
    ns.netns.name = Some(name.clone());
    owners.processes.insert(
        7,
        Process {
            pid: 7,
            comm: name.chars().take(15).collect(),
            cmdline: name.clone(),
            cgroup: Some(name.clone()),
            ..Process::default()
        },
    );
    let snap = Snapshot {
        namespaces: vec![ns],
        owners,
        ..Snapshot::default()
    };
    let listing = rows(&snap, &RowFilter::default());
    for wide in [false, true] {
        let mut out = Vec::new();
        render::sockets::text(&listing, wide, &mut out).expect("writes");
        check("sockets", &out);
    }
    let census = analyze::census_of_snapshot(&snap, Some(GroupBy::Process), 10);
    let mut out = Vec::new();
    render::census::text(&census, &mut out).expect("writes");
    check("census --by process", &out);
    let d = diagnose_snapshot(&snap, &Thresholds::default(), Selection::All);
    let mut out = Vec::new();
    render::diagnose::text(&d, &mut out).expect("writes");
    check("diagnose", &out);
    let end = ConnectionEnd {
        at_unix_s: 0.0,
        netns: 1,
        local: "10.0.0.1:8080".parse().expect("endpoint"),
        remote: "10.0.0.2:20000".parse().expect("endpoint"),
        end: EndKind::ClosedFirst,
        closer: Some(Closer {
            pid: 7,
            comm: name.clone(),
            cgroup: Some(name),
            order: CloseOrder::First,
            closed_s_ago: 0.0,
        }),
        opened: None,
        lifetime_s: None,
        cookie: 1,
    };
    let mut out = Vec::new();
    render::trace::line(&end, &mut out).expect("writes");
    check("trace", &out);
    // A captured /proc tree from elsewhere names its own kernel and sysctls.
    let mut host = HostInfo {
        kernel_release: Some(snap.owners.processes[&7].cmdline.clone()),
        ..HostInfo::default()
    };
    host.sysctls.insert(
        "net.ipv4.ip_local_port_range".into(),
        snap.owners.processes[&7].cmdline.clone(),
    );
    for all in [false, true] {
        let mut out = Vec::new();
        render::host::text(&host, all, &mut out).expect("writes");
        check("host", &out);
    }
});
