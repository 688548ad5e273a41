//! Captures the fixtures under tests/fixtures/every-state from a real
//! private namespace holding sockets in every state. Run on purpose only:
//!
//!     TCPDOCTOR_CAPTURE=1 cargo test -p tcpdoctor-core --test it -- \
//!         --ignored capture_every_state_fixtures
//!
//! then review the diff. `fixtures` checks the parsers against them. It is
//! a tool, not a test: `#[ignore]`d, it does nothing without
//! TCPDOCTOR_CAPTURE, and test.sh skips it by name even when it runs the
//! ignored tests.

use crate::support::{converge, every_state_dir};
use std::collections::BTreeMap;
use std::process::Command;
use tcpdoctor_core::collect::ProcRoot;
use tcpdoctor_core::collect::netlink::{Dumper, Family};
use tcpdoctor_core::model::{Socket, StateSet};
use tcpdoctor_testkit::netns::run_in_private_netns;
use tcpdoctor_testkit::states::build_every_state;

fn write(rel: &str, bytes: &[u8]) {
    let p = every_state_dir().join(rel);
    std::fs::create_dir_all(p.parent().expect("has a parent")).expect("mkdir");
    std::fs::write(&p, bytes).expect("write fixture");
}

fn run(cmd: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(cmd).args(args).output().expect("runs");
    assert!(out.status.success(), "{cmd} failed");
    out.stdout
}

#[test]
#[ignore = "writes fixtures; run with TCPDOCTOR_CAPTURE=1 and --ignored"]
fn capture_every_state_fixtures() {
    if std::env::var_os("TCPDOCTOR_CAPTURE").is_none() {
        eprintln!("set TCPDOCTOR_CAPTURE=1 to capture");
        return;
    }
    run_in_private_netns(|| {
        let pop = build_every_state(8000, 2).expect("builds");
        let counts = converge(&pop.expected);
        let expected: BTreeMap<String, u64> = counts
            .iter()
            .map(|(s, n)| (s.netstat_name().to_string(), *n))
            .collect();
        write(
            "expected.json",
            serde_json::to_string_pretty(&expected)
                .expect("json")
                .as_bytes(),
        );

        for (info, suffix) in [(false, ""), (true, "-info")] {
            for (family, name) in [(Family::V4, "v4"), (Family::V6, "v6")] {
                let mut d = Dumper::open().expect("netlink");
                d.record = Some(Vec::new());
                d.dump(family, StateSet::all(), info, &mut |_: &Socket| {})
                    .expect("dump");
                let bytes: Vec<u8> = d.record.take().unwrap_or_default().concat();
                write(&format!("netlink-{name}{suffix}.bin"), &bytes);
            }
        }

        let root = ProcRoot::live();
        for f in ["tcp", "tcp6", "sockstat", "sockstat6", "snmp", "netstat"] {
            let bytes = std::fs::read(root.net_file(f)).expect("read /proc file");
            write(&format!("proc/net/{f}"), &bytes);
        }
        for name in [
            "kernel.osrelease",
            "fs.file-nr",
            "fs.file-max",
            "fs.nr_open",
            "net.core.somaxconn",
        ] {
            let bytes = std::fs::read(root.sysctl_path(name)).expect("read sysctl");
            write(&format!("proc/sys/{}", name.replace('.', "/")), &bytes);
        }
        for e in std::fs::read_dir(root.sysctl_path("net.ipv4"))
            .expect("list")
            .flatten()
        {
            let n = e.file_name().to_string_lossy().into_owned();
            let wanted = (n.starts_with("tcp_") && n != "tcp_fastopen_key")
                || n == "ip_local_port_range"
                || n == "ip_local_reserved_ports";
            if wanted && let Ok(bytes) = std::fs::read(e.path()) {
                write(&format!("proc/sys/net/ipv4/{n}"), &bytes);
            }
        }

        write("ss-tan.txt", &run("ss", &["-tan"]));
        write("ss-tanoie.txt", &run("ss", &["-tanoie"]));
        write("netstat-ant.txt", &run("netstat", &["-ant"]));
        write("netstat-antW.txt", &run("netstat", &["-antW"]));
        write("netstat-antp.txt", &run("netstat", &["-antp"]));
        write("ss-tanp.txt", &run("ss", &["-tanp"]));
        write("ss-tanpoie.txt", &run("ss", &["-tanpoie"]));
        let census = run(
            "sh",
            &[
                "-c",
                "netstat -n | awk '/^tcp/ {++S[$NF]} END {for(a in S) print a, S[a]}'",
            ],
        );
        write("awk-census.txt", &census);
    })
    .expect("namespace");
}
