//! Owners from the kernel's fd tables by an iter/task_file program: one
//! 16-byte record per open fd (pid, fd, socket inode or 0), instead of one
//! readlink per fd under /proc. It sees the processes of this process's pid
//! namespace, every network namespace's sockets among them (socket inodes
//! are unique host-wide, as for the /proc scan). The details of the
//! processes that hold a socket still come from /proc/PID.

use super::records::{self, tcpd_fd_record};
use super::{Attached, RECORD, Unavailable};
use crate::collect::ProcRoot;
use crate::collect::owners::{InodeFilter, index_of};
use crate::model::{FdRef, Holders, OwnerIndex};
use std::collections::HashMap;
use std::io;
use std::sync::OnceLock;

pub(super) static OBJECT: &[u8] = include_bytes!("../../../bpf/owners.bpf.o");

/// The loaded owners program.
pub struct IterOwners {
    attached: Attached,
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
        })
    }

    /// The holders of the sockets `filter` wants, as `owners::scan` finds
    /// them.
    pub fn scan(&self, root: &ProcRoot, filter: &InodeFilter) -> io::Result<OwnerIndex> {
        let mut by_inode: HashMap<u64, Holders> = HashMap::new();
        let mut fd_counts: HashMap<u32, u32> = HashMap::new();
        super::drain_iter(&self.attached.link, |bytes| {
            for r in bytes.chunks_exact(RECORD) {
                let Some(tcpd_fd_record { pid, fd, inode }) = records::read(r) else {
                    continue;
                };
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

#[cfg(test)]
mod tests {
    use super::records::{self, tcpd_fd_record};

    #[test]
    fn records_read_in_native_order() {
        let mut r = Vec::new();
        r.extend_from_slice(&42u32.to_ne_bytes());
        r.extend_from_slice(&7u32.to_ne_bytes());
        r.extend_from_slice(&123_456_789u64.to_ne_bytes());
        assert_eq!(
            records::read::<tcpd_fd_record>(&r),
            Some(tcpd_fd_record {
                pid: 42,
                fd: 7,
                inode: 123_456_789
            })
        );
    }
}
