//! Owners from the kernel's fd tables in one pass, by an iter/task_file
//! program: one 72-byte record per TCP socket fd with the socket as the
//! pass saw it (state, addresses, cookie, network namespace), and one fd
//! count per process, instead of one readlink per fd under /proc. It sees
//! the processes of this process's pid namespace, every network
//! namespace's sockets among them (socket inodes are unique host-wide, as
//! for the /proc scan). The details of the processes that hold a socket
//! still come from /proc/PID.

use super::records::{self, TCPD_FD_COUNT, TCPD_FD_TCP, tcpd_fd_record};
use super::{Attached, RECORD, Unavailable, ip_of};
use crate::collect::ProcRoot;
use crate::collect::owners::{InodeFilter, index_of};
use crate::model::{Endpoint, FdRef, Holders, OwnerIndex, Socket, TcpState};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::{Mutex, OnceLock};

pub(super) static OBJECT: &[u8] = include_bytes!("../../../bpf/owners.bpf.o");

/// The loaded owners program, one pass at a time (its counters are
/// globals of the loaded object).
pub struct IterOwners {
    attached: Attached,
    lock: Mutex<()>,
}

/// A TCP socket as the pass saw it, in the namespace of this inode.
pub struct PassSocket {
    pub netns: u64,
    pub socket: Socket,
}

/// What one pass found: the owners, and every TCP socket that had a file
/// and that the filter wants (each once, whoever else held it).
pub struct Pass {
    pub owners: OwnerIndex,
    pub sockets: Vec<PassSocket>,
}

impl IterOwners {
    /// The program of this process, loaded on first use and kept.
    pub(crate) fn shared() -> Result<&'static IterOwners, Unavailable> {
        static SHARED: OnceLock<Result<IterOwners, Unavailable>> = OnceLock::new();
        super::load_once(&SHARED, IterOwners::load)
    }

    pub fn load() -> Result<IterOwners, Unavailable> {
        Ok(IterOwners {
            attached: super::load("owners", OBJECT, "socket_files")?,
            lock: Mutex::new(()),
        })
    }

    /// The holders of the sockets `filter` wants, as `owners::scan` finds
    /// them, and the TCP sockets the pass saw.
    pub fn scan(&self, root: &ProcRoot, filter: &InodeFilter) -> io::Result<Pass> {
        let _one_at_a_time = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut by_inode: HashMap<u64, Holders> = HashMap::new();
        let mut fd_counts: HashMap<u32, u32> = HashMap::new();
        let mut owners: HashSet<u32> = HashSet::new();
        let mut sockets: Vec<PassSocket> = Vec::new();
        // Records come process by process: a pid is looked up once.
        let mut last_pid = 0;
        super::drain_iter(&self.attached.link, |bytes| {
            for r in bytes.chunks_exact(RECORD) {
                let Some(rec) = records::read::<tcpd_fd_record>(r) else {
                    continue;
                };
                match rec.kind {
                    TCPD_FD_COUNT => {
                        fd_counts.insert(rec.pid, rec.fd);
                    }
                    TCPD_FD_TCP if rec.pid != 0 && filter.wants(rec.inode) => {
                        if rec.pid != last_pid {
                            owners.insert(rec.pid);
                            last_pid = rec.pid;
                        }
                        let fd = FdRef {
                            pid: rec.pid,
                            fd: rec.fd,
                        };
                        // Each socket once, whoever else holds it.
                        match by_inode.entry(rec.inode) {
                            Entry::Occupied(mut o) => o.get_mut().push(fd),
                            Entry::Vacant(v) => {
                                v.insert(Holders::from_slice(&[fd]));
                                sockets.extend(socket_of(&rec));
                            }
                        }
                    }
                    _ => {}
                }
            }
        })?;
        let scanned = fd_counts.len() as u32;
        Ok(Pass {
            owners: index_of(root, by_inode, &fd_counts, Some(owners), scanned, 0),
            sockets,
        })
    }
}

/// The socket of a TCP fd record; None for a state sock_diag would not
/// show (a socket never connected or bound, in CLOSE).
fn socket_of(r: &tcpd_fd_record) -> Option<PassSocket> {
    let state = TcpState::from_kernel(r.state)?;
    if state == TcpState::Close {
        return None;
    }
    let mut s = Socket::new(
        state,
        Endpoint::new(ip_of(r.family, r.saddr), r.sport),
        Endpoint::new(ip_of(r.family, r.daddr), r.dport),
    );
    s.inode = r.inode;
    // 0: no cookie made yet (nothing asked for one).
    s.cookie = (r.cookie != 0).then_some(r.cookie);
    Some(PassSocket {
        netns: u64::from(r.netns),
        socket: s,
    })
}

#[cfg(test)]
mod tests {
    use super::records::{self, TCPD_FD_TCP, tcpd_fd_record};
    use super::socket_of;

    #[test]
    fn records_read_in_native_order() {
        let mut r = Vec::new();
        r.extend_from_slice(&42u32.to_ne_bytes()); // pid
        r.extend_from_slice(&7u32.to_ne_bytes()); // fd
        r.extend_from_slice(&123_456_789u64.to_ne_bytes()); // inode
        r.extend_from_slice(&99u64.to_ne_bytes()); // cookie
        r.extend_from_slice(&4026531840u32.to_ne_bytes()); // netns
        r.extend_from_slice(&2u16.to_ne_bytes()); // AF_INET
        r.extend_from_slice(&[8, TCPD_FD_TCP]); // CLOSE_WAIT, a TCP fd
        r.extend_from_slice(&8080u16.to_ne_bytes());
        r.extend_from_slice(&40000u16.to_ne_bytes());
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[127, 0, 0, 1]);
        r.extend_from_slice(&a);
        r.extend_from_slice(&a);
        r.extend_from_slice(&0u32.to_ne_bytes());
        let rec = records::read::<tcpd_fd_record>(&r).expect("72 bytes");
        assert_eq!(
            (rec.pid, rec.fd, rec.inode, rec.cookie),
            (42, 7, 123_456_789, 99)
        );
        let s = socket_of(&rec).expect("a socket");
        assert_eq!(s.netns, 4026531840);
        assert_eq!(s.socket.state, crate::model::TcpState::CloseWait);
        assert_eq!(s.socket.local.to_string(), "127.0.0.1:8080");
        assert_eq!(s.socket.remote.to_string(), "127.0.0.1:40000");
        assert_eq!(s.socket.cookie, Some(99));
    }
}
