//! What the BPF programs and this crate exchange, in Rust: one
//! `#[repr(C)]` struct per struct of `bpf/records.h` (same names, same
//! fields, same layout), the programs' read-only data (`rodata`), and the
//! enum and numbers of records.h that the readers use. Records are read
//! from the kernel's bytes with [`read`] and written with [`bytes_of`],
//! never at byte offsets of their own.
//!
//! Why hand-written mirrors, checked by a test, rather than types that
//! libbpf-cargo generates from the committed objects: the objects' BTF
//! holds only the types that a map, a global or a function's signature
//! names, and two records (`tcpd_event`, `tcpd_fd_record`) are only ever
//! locals of the programs, so a generator would not see them; and
//! generating means libbpf-cargo and a build script in every build, for
//! seven small structs. The tests below check each mirror against
//! records.h's text (every struct) and against each object's BTF (every
//! record the BTF carries, every object's `.rodata`, every map's key and
//! value): a change on one side only fails them.
//!
//! The Rust names are the C names, as libbpf-cargo would generate them, so
//! that a field found in one file is found by the same name in the other.
#![allow(non_camel_case_types)]

/// Types whose bytes are their value: integers, arrays of them, and
/// `#[repr(C)]` structs of them that leave no padding.
///
/// # Safety
///
/// Every bit pattern of `size_of::<Self>()` bytes must be a valid value,
/// and every byte of a value must be initialised (no padding).
pub(crate) unsafe trait Plain: Copy + 'static {}

// SAFETY: integers have no padding and every bit pattern is a value.
unsafe impl Plain for u8 {}
// SAFETY: as for u8.
unsafe impl Plain for u16 {}
// SAFETY: as for u8.
unsafe impl Plain for u32 {}
// SAFETY: as for u8.
unsafe impl Plain for u64 {}
// SAFETY: an array has no padding between its elements (a size is a
// multiple of its alignment), and its elements are Plain.
unsafe impl<T: Plain, const N: usize> Plain for [T; N] {}

/// The size of a `Plain` type; in the mirrors' padding checks, it also
/// checks that each field is `Plain`.
const fn plain_size<T: Plain>() -> usize {
    size_of::<T>()
}

/// A `T` from the first `size_of::<T>()` bytes of `bytes`, in the native
/// byte order the kernel wrote them in; `None` when there are fewer.
pub(crate) fn read<T: Plain>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < size_of::<T>() {
        return None;
    }
    // SAFETY: `bytes` holds at least size_of::<T>() initialised bytes
    // (checked above); read_unaligned asks no alignment of the pointer;
    // any bytes are a valid T (Plain).
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// The bytes of `value`, laid out as the programs read them.
pub(crate) fn bytes_of<T: Plain>(value: &T) -> &[u8] {
    // SAFETY: `value` is a live reference to size_of::<T>() bytes, all of
    // them initialised (Plain: no padding); u8 needs no alignment; the
    // slice borrows `value`, so it cannot outlive it.
    unsafe { std::slice::from_raw_parts(std::ptr::from_ref(value).cast::<u8>(), size_of::<T>()) }
}

/// Declares mirrors: each struct `#[repr(C)]`, checked at compile time to
/// be made of `Plain` fields without padding (so that it is `Plain`), with
/// its layout for the tests.
macro_rules! mirrors {
    ($(
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$field_meta:meta])* pub $field:ident: $ty:ty, )*
        }
    )*) => {$(
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        $vis struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )*
        }

        // The fields fill the struct: no padding anywhere.
        const _: () = assert!(
            size_of::<$name>() == 0 $(+ plain_size::<$ty>())*,
            concat!(
                stringify!($name),
                " has padding: give it explicit pad fields, as records.h does"
            ),
        );

        // SAFETY: #[repr(C)], every field is Plain (plain_size's bound
        // above) and the fields leave no padding (the assertion above).
        unsafe impl Plain for $name {}

        #[cfg(test)]
        impl $name {
            /// Its size, and each field's name, offset and size.
            fn layout() -> tests::Layout {
                tests::Layout::new(
                    size_of::<$name>(),
                    &[$((
                        stringify!($field),
                        std::mem::offset_of!($name, $field),
                        size_of::<$ty>(),
                    )),*],
                )
            }
        }
    )*};
}

mirrors! {
    /// `struct tcpd_fd_record`: from the owners iterator (owners.bpf.c),
    /// a TCP socket's fd with the socket (`kind` `TCPD_FD_TCP`), or a
    /// process's count of open fds in `fd` (`TCPD_FD_COUNT`).
    pub(super) struct tcpd_fd_record {
        pub pid: u32,
        pub fd: u32,
        pub inode: u64,
        pub cookie: u64,
        pub netns: u32,
        pub family: u16,
        pub state: u8,
        pub kind: u8,
        pub sport: u16,
        pub dport: u16,
        pub saddr: [u8; 16],
        pub daddr: [u8; 16],
        pub pad: u32,
    }

    /// `struct tcpd_closer`: who closed a connection; the value of the
    /// `tcpd_closers` map, and part of `tcpd_event` and `tcpd_conn`.
    pub(super) struct tcpd_closer {
        pub ts_ns: u64,
        pub cgroup_id: u64,
        pub pid: u32,
        /// `TCPD_SIDE_FIRST`, `TCPD_SIDE_LAST`, or 0 (no closer known).
        pub side: u8,
        pub pad: u8,
        pub sport: u16,
        /// NUL-terminated unless 16 long.
        pub comm: [u8; 16],
    }

    /// `struct tcpd_event`: the end of a connection, from the tracer's
    /// ring (`tcpd_events`).
    pub(super) struct tcpd_event {
        pub ts_ns: u64,
        pub cookie: u64,
        pub lifetime_ns: u64,
        pub closer: tcpd_closer,
        pub saddr: [u8; 16],
        pub daddr: [u8; 16],
        pub sport: u16,
        pub dport: u16,
        pub family: u16,
        pub oldstate: u8,
        /// `TCPD_OPENED_*`, 0 when established before tracing.
        pub opened: u8,
        pub netns: u32,
        /// 1 when the peer's FIN had arrived (the socket's SOCK_DONE).
        pub peer_fin: u8,
        pub pad: [u8; 3],
    }

    /// `struct tcpd_conn`: what the tracer keeps with each socket (the
    /// `tcpd_conns` socket storage). Userspace does not read it; mirrored
    /// so that its `tcpd_closer` stays checked in the BTF too.
    struct tcpd_conn {
        pub born_ns: u64,
        pub closer: tcpd_closer,
        pub dir: u32,
        pub sport: u16,
        pub pad: u16,
    }

    /// `struct tcpd_open_key`: a group of opened connections, the key of
    /// the `tcpd_opens` map.
    pub(super) struct tcpd_open_key {
        pub addr: [u8; 16],
        pub netns: u32,
        pub port: u16,
        pub family: u16,
        /// `TCPD_OPENED_*`.
        pub dir: u8,
        pub pad: [u8; 3],
    }

    /// `struct tcpd_walk_args`: the context userspace hands the hash walk
    /// (`walk_tcp`) in each BPF_PROG_TEST_RUN.
    pub(super) struct tcpd_walk_args {
        /// 0: the established table, 1: the listening one.
        pub table: u64,
        /// The run's first bucket.
        pub first: u64,
        /// At most how many buckets the run walks.
        pub buckets: u64,
        /// After how many sockets the run stops, at the end of a chain.
        pub budget: u64,
    }

    /// The programs' read-only data (the `.rodata` section of each object),
    /// set before load: the `const volatile` globals of common.h. The same
    /// in the four objects.
    pub(super) struct rodata {
        /// The inode of the pid namespace pids are reported in (0: the
        /// host's).
        pub reader_pidns_ino: u32,
    }
}

// records.h's numbers that the readers use.
pub(super) const TCPD_FAMILIES: usize = 2;
pub(super) const TCPD_STATES: usize = 16;
pub(super) const TCPD_SIDE_FIRST: u8 = 1;
pub(super) const TCPD_SIDE_LAST: u8 = 2;
pub(super) const TCPD_OPENED_CONNECTED: u8 = 1;
pub(super) const TCPD_OPENED_ACCEPTED: u8 = 2;
pub(super) const TCPD_FD_TCP: u8 = 1;
pub(super) const TCPD_FD_COUNT: u8 = 2;

// records.h's map sizes: the maps are sized in C, only the layout test
// reads these.
#[cfg(test)]
const TCPD_CLOSERS_MAX: u32 = 262_144;
#[cfg(test)]
const TCPD_OPEN_GROUPS_MAX: u32 = 16_384;

// `enum tcpd_walk_info`: the slots of the hash walk's `tcpd_walk` map.
pub(super) const TCPD_WALK_EHASH_BUCKETS: u32 = 0;
pub(super) const TCPD_WALK_LHASH_BUCKETS: u32 = 1;
pub(super) const TCPD_WALK_MOVED: u32 = 2;
pub(super) const TCPD_WALK_LONG_CHAINS: u32 = 3;
pub(super) const TCPD_WALK_UNREADABLE: u32 = 4;
/// How many slots there are.
pub(super) const TCPD_WALK_INFO: u32 = 5;

#[cfg(test)]
pub(crate) mod tests;
