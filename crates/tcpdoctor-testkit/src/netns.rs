//! Private network namespaces that clean themselves up.
//!
//! A namespace made with unshare(CLONE_NEWNET) on a thread of its own has no
//! name and no bind mount: it lives exactly as long as that thread and the
//! sockets made in it. Nothing is left behind when a test fails or panics,
//! and nothing another process does can see or touch it.

use std::io;
use tcpdoctor_core::{Error, Result};

/// Moves the calling thread into a new, empty network namespace and brings
/// its loopback interface up. Other threads are not affected.
pub fn enter_private_netns() -> Result<()> {
    // SAFETY: unshare affects only the calling thread's namespaces.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(Error::os(
            "creating a network namespace (unshare CLONE_NEWNET; needs root or CAP_SYS_ADMIN)",
            io::Error::last_os_error(),
        ));
    }
    loopback_up().map_err(|e| Error::os("bringing up lo in the new namespace", e))
}

fn loopback_up() -> io::Result<()> {
    // SAFETY: a plain UDP socket used only for interface ioctls.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is ours.
    let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&sock);
    // SAFETY: ifreq is plain data; zeroed is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: req is a valid ifreq for these ioctls.
    if unsafe { libc::ioctl(raw, libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: as above.
    if unsafe { libc::ioctl(raw, libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `f` on a new thread inside a new private network namespace and
/// returns its result. The namespace disappears when `f` returns (or
/// panics) and its sockets are closed. Child processes spawned by `f`
/// start inside the namespace.
pub fn run_in_private_netns<T, F>(f: F) -> Result<T>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    std::thread::scope(|scope| {
        let handle = scope.spawn(|| -> Result<T> {
            enter_private_netns()?;
            Ok(f())
        });
        match handle.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}
