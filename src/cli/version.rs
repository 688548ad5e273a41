//! `tcpdoctor --version`: the version, the commit, and which sources this
//! host allows right now.

use anyhow::Result;
use std::process::ExitCode;
use tcpdoctor_core::ops::{self, ProcRoot};

pub fn run(root: &ProcRoot) -> Result<ExitCode> {
    println!(
        "tcpdoctor {} (commit {})",
        env!("CARGO_PKG_VERSION"),
        env!("TCPDOCTOR_COMMIT")
    );
    let sources = ops::sources(root);
    let shown = |r: Result<&str, String>| match r {
        Ok(how) => format!("usable ({how})"),
        Err(why) => format!("unavailable: {why}"),
    };
    println!("sources on this host now:");
    println!("  eBPF:    {}", shown(sources.ebpf));
    println!("  netlink: {}", shown(sources.netlink));
    println!("  /proc:   {}", shown(sources.proc_net));
    Ok(ExitCode::SUCCESS)
}
