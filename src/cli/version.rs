//! `tcpdoctor --version`: the version, the commit, and which sources this
//! host allows right now.

use anyhow::Result;
use std::process::ExitCode;
use tcpdoctor_core::collect::bpf::census::KernelCensus;
use tcpdoctor_core::collect::{self, ProcRoot, SocketQuery, SourceChoice};
use tcpdoctor_core::model::{Census, StateSet, TcpState};

pub fn run(root: &ProcRoot) -> Result<ExitCode> {
    println!(
        "tcpdoctor {} (commit {})",
        env!("CARGO_PKG_VERSION"),
        env!("TCPDOCTOR_COMMIT")
    );
    let ebpf = match KernelCensus::shared() {
        Ok(KernelCensus::Walk(_)) => {
            "usable (census by a walk of the kernel's hash tables, owners from fd tables, trace)"
                .to_string()
        }
        Ok(KernelCensus::Iter(_)) => {
            "usable (census by iter/tcp, owners from fd tables, trace)".to_string()
        }
        Err(why) => format!("unavailable: {why}"),
    };
    let listeners = SocketQuery {
        states: StateSet::from_iter([TcpState::Listen]),
        ..SocketQuery::default()
    };
    let netlink = match collect::collect_sockets(
        root,
        &listeners,
        SourceChoice::Netlink,
        &mut Census::new(None),
    ) {
        Ok(_) => "usable (sock_diag)".to_string(),
        Err(e) => format!("unavailable: {e}"),
    };
    let proc_net = match std::fs::metadata(root.net_file("tcp")) {
        Ok(_) => "usable (/proc/net/tcp, tcp6)".to_string(),
        Err(e) => format!("unavailable: {e}"),
    };
    println!("sources on this host now:");
    println!("  eBPF:    {ebpf}");
    println!("  netlink: {netlink}");
    println!("  /proc:   {proc_net}");
    Ok(ExitCode::SUCCESS)
}
