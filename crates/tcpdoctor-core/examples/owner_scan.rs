//! Times an owner scan alone, for bench/owners.sh: `owner_scan` the
//! /proc/*/fd scan, `owner_scan ebpf` the eBPF fd-table pass (its load
//! apart). Prints the sockets found, the processes and the seconds.

use std::time::Instant;
use tcpdoctor_core::collect::ProcRoot;
use tcpdoctor_core::collect::bpf::owners::IterOwners;
use tcpdoctor_core::collect::owners::{InodeFilter, scan};

fn main() -> std::io::Result<()> {
    let root = ProcRoot::live();
    let t = Instant::now();
    let (idx, sockets, load_s) = if std::env::args().nth(1).as_deref() == Some("ebpf") {
        let it = IterOwners::load().map_err(|e| std::io::Error::other(e.to_string()))?;
        let load_s = t.elapsed().as_secs_f64();
        let pass = it.scan(&root, &InodeFilter::All)?;
        (pass.owners, pass.sockets.len(), Some(load_s))
    } else {
        let idx = scan(&root, &InodeFilter::All)?;
        let n = idx.by_inode.len();
        (idx, n, None)
    };
    let fds: usize = idx.by_inode.values().map(|h| h.len()).sum();
    let load = load_s.map_or(String::new(), |l| format!(" (load {l:.3} s)"));
    println!(
        "{sockets} sockets, {fds} socket fds, {} processes scanned, {:.3} s{load}",
        idx.scanned,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
