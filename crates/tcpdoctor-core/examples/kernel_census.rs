//! One census in the kernel by a named program, for bench/census.sh to time
//! the two side by side: `kernel_census walk` (the hash walk, tcpdoctor's
//! default) or `kernel_census iter` (iter/tcp, its fallback). Prints the
//! number of sockets of the current network namespace.

use tcpdoctor_core::collect::bpf::census::IterCensus;
use tcpdoctor_core::collect::bpf::walk::WalkCensus;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let counts = match std::env::args().nth(1).as_deref() {
        Some("walk") => WalkCensus::load()?.count()?.0,
        Some("iter") => IterCensus::load()?.count()?,
        _ => return Err("usage: kernel_census walk|iter".into()),
    };
    let total: u64 = counts.ipv4.iter().chain(&counts.ipv6).sum();
    println!("{total}");
    Ok(())
}
