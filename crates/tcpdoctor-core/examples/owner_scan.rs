//! Times the owner scan (/proc/*/fd) alone, for bench/owners.sh:
//! `owner_scan` prints the sockets found, the processes and the seconds.

use std::time::Instant;
use tcpdoctor_core::collect::ProcRoot;
use tcpdoctor_core::collect::owners::{InodeFilter, scan};

fn main() -> std::io::Result<()> {
    let t = Instant::now();
    let idx = scan(&ProcRoot::live(), &InodeFilter::All)?;
    let fds: usize = idx.by_inode.values().map(|h| h.len()).sum();
    println!(
        "{} sockets, {fds} socket fds, {} processes scanned, {:.3} s",
        idx.by_inode.len(),
        idx.scanned,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
