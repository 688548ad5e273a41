//! Owners from the kernel's fd tables by an iter/task_file program: one
//! 16-byte record per open fd (pid, fd, socket inode or 0), instead of one
//! readlink per fd under /proc. It sees the processes of this process's pid
//! namespace, every network namespace's sockets among them (socket inodes
//! are unique host-wide, as for the /proc scan). The details of the
//! processes that hold a socket still come from /proc/PID.

use super::{Attached, RECORD, Unavailable};
use crate::collect::ProcRoot;
use crate::collect::owners::{InodeFilter, index_of};
use crate::model::{FdRef, Holders, OwnerIndex};
use std::collections::HashMap;
use std::io;
use std::sync::OnceLock;

static OBJECT: &[u8] = include_bytes!("../../../bpf/owners.bpf.o");

/// The loaded owners program.
pub struct IterOwners {
    attached: Attached,
}

impl IterOwners {
    /// The program of this process, loaded on first use and kept.
    pub fn shared() -> Result<&'static IterOwners, Unavailable> {
        static SHARED: OnceLock<Result<IterOwners, Unavailable>> = OnceLock::new();
        super::load_once(&SHARED, IterOwners::load)
    }

    pub fn load() -> Result<IterOwners, Unavailable> {
        Ok(IterOwners {
            attached: super::load("owners", OBJECT, "socket_files")?,
        })
    }

    /// The holders of the sockets `filter` wants, as `owners::scan` finds
    /// them.
    pub fn scan(&self, root: &ProcRoot, filter: &InodeFilter) -> io::Result<OwnerIndex> {
        let mut by_inode: HashMap<u64, Holders> = HashMap::new();
        let mut fd_counts: HashMap<u32, u32> = HashMap::new();
        super::drain_iter(&self.attached.link, |records| {
            for r in records.chunks_exact(RECORD) {
                let (pid, fd, inode) = parse_record(r);
                if pid == 0 {
                    continue;
                }
                *fd_counts.entry(pid).or_insert(0) += 1;
                if inode != 0 && filter.wants(inode) {
                    by_inode.entry(inode).or_default().push(FdRef { pid, fd });
                }
            }
        })?;
        let scanned = fd_counts.len() as u32;
        Ok(index_of(root, by_inode, &fd_counts, scanned, 0))
    }
}

/// `struct tcpd_fd_record`: pid, fd, inode, in native byte order.
fn parse_record(r: &[u8]) -> (u32, u32, u64) {
    let word = |i: usize| u32::from_ne_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
    let inode = u64::from_ne_bytes([r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]]);
    (word(0), word(4), inode)
}

#[cfg(test)]
mod tests {
    #[test]
    fn records_read_in_native_order() {
        let mut r = Vec::new();
        r.extend_from_slice(&42u32.to_ne_bytes());
        r.extend_from_slice(&7u32.to_ne_bytes());
        r.extend_from_slice(&123_456_789u64.to_ne_bytes());
        assert_eq!(super::parse_record(&r), (42, 7, 123_456_789));
    }
}
