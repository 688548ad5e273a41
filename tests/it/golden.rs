//! Golden files for every output: diagnose (text, JSON), sockets (text,
//! JSON), census (text, JSON), host (text, JSON) and /metrics, each from a
//! fixed input, so a change in any of them shows up as a diff to review.
//! `TCPDOCTOR_BLESS=1 cargo test --test it golden::` rewrites them; /metrics is
//! also checked by `promtool check metrics`.
//!
//! The input is one host snapshot built here from model types (a leaking
//! server, a client churning connections to an upstream, orphans, a
//! bad sysctl line), written as a snapshot file and read back by
//! `tcpdoctor analyze`, plus the captured /proc tree for `host`.

use crate::support::{TempDir, bin, fixture, golden, run, stdout};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use tcpdoctor_core::model::NamespaceCount;
use tcpdoctor_core::model::{
    Endpoint, FdRef, FileNr, HostInfo, NetnsInfo, NsSnapshot, OwnerIndex, Process, Snapshot,
    Socket, Sockstat, SysctlSetting, TcpInfo, TcpState, Timer,
};
use tcpdoctor_core::offline;
use tcpdoctor_core::ops::{self, Selection, Thresholds};
use tcpdoctor_core::render::prometheus;

fn ep(s: &str) -> Endpoint {
    s.parse().expect("endpoint")
}

fn sock(state: TcpState, local: &str, remote: &str) -> Socket {
    Socket::new(state, ep(local), ep(remote))
}

/// A host with one of each kind of trouble, fixed to the byte.
fn snapshot() -> Snapshot {
    let mut sockets = Vec::new();
    let mut owners = OwnerIndex::default();
    let mut inode = 5000;
    let mut own = |s: &mut Socket, pid: u32, fd: u32, owners: &mut OwnerIndex| {
        inode += 1;
        s.inode = inode;
        owners
            .by_inode
            .entry(inode)
            .or_default()
            .push(FdRef { pid, fd });
    };
    // A server on :8080 (pid 300, "app") that never closes: 150 CLOSE_WAIT.
    let mut l = sock(TcpState::Listen, "0.0.0.0:8080", "0.0.0.0:0");
    l.send_q = 128;
    own(&mut l, 300, 3, &mut owners);
    sockets.push(l);
    for i in 0..150u16 {
        let mut s = sock(TcpState::CloseWait, "10.0.0.1:8080", "10.0.0.7:41000");
        s.remote.port += i;
        s.recv_q = 1;
        s.info = Some(Box::new(TcpInfo {
            len: 232,
            state: 8,
            last_ack_recv_ms: 90_000 + u32::from(i) * 30_000,
            ..TcpInfo::default()
        }));
        own(&mut s, 300, 10 + u32::from(i), &mut owners);
        sockets.push(s);
    }
    // A client (pid 400, "worker") opening a connection per request to
    // 10.0.0.9:5432: 1200 TIME_WAIT, one live connection.
    let mut live = sock(TcpState::Established, "10.0.0.1:39999", "10.0.0.9:5432");
    own(&mut live, 400, 5, &mut owners);
    sockets.push(live);
    for i in 0..1200u16 {
        let mut s = sock(TcpState::TimeWait, "10.0.0.1:40000", "10.0.0.9:5432");
        s.local.port += i;
        s.timer = Timer::TimeWait;
        s.timer_ms = 1000 + u32::from(i % 59) * 1000;
        sockets.push(s);
    }
    // Orphaned FIN_WAIT2 toward a peer that never closes.
    for i in 0..120u16 {
        let mut s = sock(TcpState::FinWait2, "10.0.0.1:8080", "10.0.0.8:50000");
        s.remote.port += i;
        s.timer = Timer::TimeWait;
        s.timer_ms = 30_000;
        sockets.push(s);
    }
    let proc_ = |pid, comm: &str, cmdline: &str, fds, nofile| Process {
        pid,
        comm: comm.into(),
        cmdline: cmdline.into(),
        uid: Some(1000),
        fd_count: fds,
        nofile_soft: Some(nofile),
        nofile_hard: Some(nofile * 4),
        cgroup: Some(format!("/system.slice/{comm}.service")),
        parent: None,
    };
    owners.processes.insert(
        300,
        proc_(300, "app", "/usr/bin/app --port 8080", 170, 1024),
    );
    owners
        .processes
        .insert(400, proc_(400, "worker", "/usr/bin/worker", 20, 1024));
    owners.scanned = 90;
    let mut host = HostInfo {
        kernel_release: Some("6.18.0-test".into()),
        sockstat: Some(Sockstat {
            inuse: 152,
            orphan: 120,
            tw: 1200,
            alloc: 300,
            mem_pages: 12,
            inuse6: Some(0),
        }),
        file_nr: Some(FileNr {
            allocated: 2000,
            free: 0,
            max: 9_223_372,
        }),
        ..HostInfo::default()
    };
    for (k, v) in [
        ("net.ipv4.ip_local_port_range", "32768 60999"),
        ("net.ipv4.tcp_fin_timeout", "30"),
        ("net.ipv4.tcp_max_tw_buckets", "262144"),
        ("net.ipv4.tcp_ehash_entries", "524288"),
        ("net.ipv4.tcp_tw_reuse", "2"),
        ("net.ipv4.tcp_timestamps", "1"),
        ("net.ipv4.tcp_syncookies", "1"),
        ("net.ipv4.tcp_max_syn_backlog", "1024"),
        ("net.ipv4.tcp_max_orphans", "65536"),
        ("net.core.somaxconn", "4096"),
    ] {
        host.sysctls.insert(k.into(), v.into());
    }
    for (k, v) in [
        ("ListenOverflows", 0),
        ("TW", 5000),
        ("TCPTimeWaitOverflow", 0),
    ] {
        host.tcp_ext.insert(k.into(), v);
    }
    host.tcp.insert("ActiveOpens".into(), 9000);
    let mut before = BTreeMap::new();
    before.insert("TW".to_string(), 4000);
    Snapshot {
        hostname: "golden-host".into(),
        taken_at: 1_790_000_000,
        interval_s: 1.0,
        namespaces: vec![NsSnapshot {
            netns: NetnsInfo {
                inode: 4026531840,
                current: true,
                pid: Some(1),
                comm: Some("systemd".into()),
                ..NetnsInfo::default()
            },
            sockets,
            listen_backlog_known: true,
            host,
            tcp_ext_before: before,
            tcp_before: [("ActiveOpens".to_string(), 8980)].into_iter().collect(),
        }],
        owners,
        sysctl_settings: vec![SysctlSetting {
            file: PathBuf::from("/etc/sysctl.d/99-tuning.conf"),
            line: 3,
            key: "net.ipv4.tcp_fin_timeout".into(),
            value: "30".into(),
        }],
        notes: Vec::new(),
        trends: None,
    }
}

/// The snapshot as a file for `tcpdoctor analyze`, removed on drop.
struct SnapshotFile {
    _dir: TempDir,
    path: PathBuf,
}

impl SnapshotFile {
    fn new() -> SnapshotFile {
        let dir = TempDir::new("golden");
        let path = dir.join("snapshot.json");
        offline::snapshot::write(&snapshot(), &path).expect("writes the snapshot");
        SnapshotFile { _dir: dir, path }
    }

    fn arg(&self) -> &str {
        self.path.to_str().expect("utf-8 path")
    }
}

#[test]
fn diagnose_text_and_json() {
    let f = SnapshotFile::new();
    let text = run(&["analyze", f.arg()]);
    assert_eq!(text.status.code(), Some(2), "a critical finding");
    golden("diagnose.txt", &stdout(&text));
    golden(
        "diagnose.json",
        &stdout(&run(&["analyze", "--json", f.arg()])),
    );
}

#[test]
fn sockets_text_and_json() {
    let f = SnapshotFile::new();
    let args = ["analyze", "--view", "sockets", "--limit", "12", f.arg()];
    golden("sockets.txt", &stdout(&run(&args)));
    let mut json = args.to_vec();
    json.push("--json");
    golden("sockets.json", &stdout(&run(&json)));
}

#[test]
fn census_text_and_json_by_process() {
    let f = SnapshotFile::new();
    let args = ["analyze", "--view", "census", f.arg()];
    golden("census.txt", &stdout(&run(&args)));
    golden(
        "census-by-process.txt",
        &stdout(&run(&[
            "analyze",
            "--view",
            "census",
            "--by",
            "process",
            f.arg(),
        ])),
    );
    golden(
        "census-by-process.json",
        &stdout(&run(&[
            "analyze",
            "--view",
            "census",
            "--by",
            "process",
            "--json",
            f.arg(),
        ])),
    );
}

#[test]
fn host_text_and_json_of_a_captured_proc_tree() {
    let root = fixture("every-state/proc");
    let root = root.to_str().expect("utf-8 path");
    golden("host.txt", &stdout(&run(&["--proc-root", root, "host"])));
    golden(
        "host.json",
        &stdout(&run(&["--proc-root", root, "host", "--json"])),
    );
}

#[test]
fn metrics_exposition_passes_promtool() {
    let snap = snapshot();
    let diagnosis = ops::diagnose_snapshot(&snap, &Thresholds::default(), Selection::All);
    let mut full = prometheus::full_metrics(&snap, diagnosis, 10);
    full.refreshed_unix = 1_790_000_000;
    full.duration_s = 0.25;
    let ns = &snap.namespaces[0];
    let mut states = BTreeMap::new();
    for s in &ns.sockets {
        *states.entry(s.state).or_insert(0) += 1;
    }
    let fast = [NamespaceCount {
        netns: String::new(),
        states,
        host: ns.host.clone(),
    }];
    let collectors = [("census", true, 0.125), ("counters", true, 0.0625)];
    let text = prometheus::render(&fast, &full, &collectors);
    golden("metrics.prom", &text);
    let dir = TempDir::new("golden-prom");
    let path = dir.write("metrics.prom", &text);
    let out = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&path).expect("opens"))
        .output();
    let out = out.expect("promtool runs (test.sh installs the prometheus package)");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sysctl_audit_and_emitted_snippet() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Relative paths: the file:line in the output is the same on any checkout.
    let sysctl = |extra: &[&str]| {
        let mut args = vec![
            "--proc-root",
            "tests/fixtures/every-state/proc",
            "sysctl",
            "--sysctl-file",
            "tests/fixtures/sysctl/99-blog-advice.conf",
        ];
        args.extend_from_slice(extra);
        bin()
            .current_dir(dir)
            .args(&args)
            .output()
            .expect("runs tcpdoctor")
    };
    let text = sysctl(&[]);
    assert_eq!(text.status.code(), Some(1), "warnings only");
    golden("sysctl.txt", &stdout(&text));
    golden("sysctl-emit.conf", &stdout(&sysctl(&["--emit"])));
}
