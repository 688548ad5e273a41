//! What the tests need from the host: privileges, the sysctls of a private
//! namespace, and waiting for the kernel to reach a state.
//!
//! The lab (a shipped feature, which must not depend on a test crate)
//! keeps its own copy of these three in tcpdoctor-lab's `host.rs`; the
//! place for one copy both use is tcpdoctor-core.

use std::io::{self, ErrorKind};
use std::time::{Duration, Instant};
use tcpdoctor_core::collect::ProcRoot;
use tcpdoctor_core::{Error, Result};

/// How long a state may take to settle before waiting fails.
const SETTLE: Duration = Duration::from_secs(10);

/// Whether this process may create network namespaces (root, or
/// CAP_SYS_ADMIN). A cheap check before trying.
pub fn have_privileges() -> bool {
    // SAFETY: geteuid never fails.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    // CapEff bit 21 is CAP_SYS_ADMIN.
    tcpdoctor_core::collect::host::effective_capabilities()
        .is_some_and(|caps| caps & (1 << 21) != 0)
}

/// Writes a sysctl of the calling thread's network namespace, e.g.
/// `("net.ipv4.ip_local_port_range", "40000 40010")`. For namespaces a
/// test made; never the host's.
pub fn set_netns_sysctl(name: &str, value: &str) -> Result<()> {
    let path = ProcRoot::live().sysctl_path(name);
    std::fs::write(&path, value).map_err(|e| Error::io(path, e))
}

/// Polls `done` until it is true, failing with `what` after `SETTLE`
/// (10 s): the state it waits for comes from the kernel, not from a sleep.
pub fn wait_until(what: &str, mut done: impl FnMut() -> io::Result<bool>) -> io::Result<()> {
    let start = Instant::now();
    loop {
        if done()? {
            return Ok(());
        }
        if start.elapsed() > SETTLE {
            return Err(io::Error::new(
                ErrorKind::TimedOut,
                format!("{what}: not reached after {SETTLE:?}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
