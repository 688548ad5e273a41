//! Builds TCP sockets in every state the kernel can be made to hold still,
//! on loopback, for tests that check tcpdoctor sees exactly what is there.
//!
//! Each state is reached by a deterministic sequence; where the last step
//! happens in the peer's softirq (an ACK), we wait for the state through
//! getsockopt(TCP_INFO), never by sleeping for a guessed time.
//!
//! - LISTEN: bind + listen.
//! - ESTABLISHED: connect + accept.
//! - CLOSE_WAIT / FIN_WAIT2: the client shuts down writing and keeps its fd;
//!   the server reads EOF and never closes.
//! - FIN_WAIT2 orphan: as above, then the client closes: the kernel keeps it
//!   as a timewait mini-socket whose substate sock_diag reports as FIN_WAIT2.
//! - TIME_WAIT: the client shuts down writing, the server reads EOF and
//!   closes, the client reads EOF (the server's FIN arrived) and closes.
//! - SYN_SENT: a listener with backlog 0 and one connection already queued
//!   drops the next SYN (sk_acceptq_is_full), so the connector waits.
//! - SYN_RECV: a listener with TCP_DEFER_ACCEPT drops the bare final ACK and
//!   keeps the connection as a request socket until data arrives.
//! - FIN_WAIT1 / LAST_ACK / CLOSING: the FIN is queued behind data the peer
//!   never reads (its receive window is zero), so it is never sent.

use crate::host::wait_until;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::collections::BTreeMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv6Addr, Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;
use tcpdoctor_core::collect::netlink::parse_tcp_info;
use tcpdoctor_core::model::{TcpInfo, TcpState};

/// How long a state may take to settle before building fails.
const SETTLE: Duration = Duration::from_secs(10);

/// Sockets held open in known states, and how many of each there are.
/// Dropping it closes them all.
pub struct Population {
    sockets: Vec<Socket>,
    pub expected: BTreeMap<TcpState, u64>,
    /// Whether IPv6 sockets are among them (false when ::1 is unusable).
    pub ipv6: bool,
}

impl Population {
    fn new() -> Population {
        Population {
            sockets: Vec::new(),
            expected: BTreeMap::new(),
            ipv6: false,
        }
    }

    fn add(&mut self, state: TcpState, n: u64) {
        *self.expected.entry(state).or_insert(0) += n;
    }

    fn keep(&mut self, s: Socket) {
        self.sockets.push(s);
    }

    pub fn total(&self) -> u64 {
        self.expected.values().sum()
    }
}

/// getsockopt(TCP_INFO) on a socket, read by the collector's own parser.
pub fn tcp_info(s: &Socket) -> io::Result<TcpInfo> {
    let mut buf = [0u8; 256];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: buf and len are valid for the kernel to write into.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(parse_tcp_info(&buf[..len as usize]))
}

/// The state byte of getsockopt(TCP_INFO).
pub fn kernel_state(s: &Socket) -> io::Result<u8> {
    Ok(tcp_info(s)?.state)
}

fn wait_state(s: &Socket, want: TcpState, what: &str) -> io::Result<()> {
    wait_until(what, || Ok(kernel_state(s)? == want.kernel_number()))
}

fn listener(addr: SocketAddr, backlog: i32) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(backlog)?;
    Ok(s)
}

/// A connected pair: (client, accepted server side). `client_rcvbuf`
/// shrinks the client's receive buffer before connecting.
fn pair(l: &Socket, to: SocketAddr, client_rcvbuf: Option<usize>) -> io::Result<(Socket, Socket)> {
    let c = Socket::new(Domain::for_address(to), Type::STREAM, Some(Protocol::TCP))?;
    if let Some(n) = client_rcvbuf {
        c.set_recv_buffer_size(n)?;
    }
    c.connect(&to.into())?;
    let (s, _) = l.accept()?;
    Ok((c, s))
}

/// Writes until the kernel refuses more: the peer's window and our send
/// buffer are full, so whatever comes next (a FIN) stays queued.
fn stuff(s: &Socket) -> io::Result<()> {
    s.set_send_buffer_size(1 << 20)?;
    s.set_nonblocking(true)?;
    let chunk = [0x55u8; 16 * 1024];
    let mut w = s;
    loop {
        match w.write(&chunk) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    s.set_nonblocking(false)
}

/// Reads until EOF (the peer's FIN has been processed).
fn read_to_eof(s: &Socket) -> io::Result<()> {
    s.set_read_timeout(Some(SETTLE))?;
    let mut buf = [0u8; 64 * 1024];
    let mut r = s;
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(e),
        }
    }
}

fn addr(ip: &str, port: u16) -> io::Result<SocketAddr> {
    format!("{ip}:{port}")
        .parse()
        .map_err(|e| io::Error::new(ErrorKind::InvalidInput, format!("{ip}:{port}: {e}")))
}

/// Builds `per_state` sockets in each buildable state on 127.0.0.1 (and a
/// LISTEN plus an ESTABLISHED pair on ::1 when IPv6 works), using ports
/// from `base_port` up to `base_port + 5`.
pub fn build_every_state(base_port: u16, per_state: u64) -> io::Result<Population> {
    let mut p = Population::new();
    let main_addr = addr("127.0.0.1", base_port)?;
    let main = listener(main_addr, 4096)?;
    p.add(TcpState::Listen, 1);

    for _ in 0..per_state {
        // ESTABLISHED x2.
        let (c, s) = pair(&main, main_addr, None)?;
        p.keep(c);
        p.keep(s);
        p.add(TcpState::Established, 2);

        // CLOSE_WAIT on the server, FIN_WAIT2 (with its fd) on the client.
        let (c, s) = pair(&main, main_addr, None)?;
        c.shutdown(Shutdown::Write)?;
        read_to_eof(&s)?;
        wait_state(&c, TcpState::FinWait2, "client FIN_WAIT2")?;
        p.keep(c);
        p.keep(s);
        p.add(TcpState::CloseWait, 1);
        p.add(TcpState::FinWait2, 1);

        // Orphaned FIN_WAIT2 (timewait mini-socket) + CLOSE_WAIT.
        let (c, s) = pair(&main, main_addr, None)?;
        c.shutdown(Shutdown::Write)?;
        read_to_eof(&s)?;
        wait_state(&c, TcpState::FinWait2, "client FIN_WAIT2 before close")?;
        drop(c);
        p.keep(s);
        p.add(TcpState::CloseWait, 1);
        p.add(TcpState::FinWait2, 1);

        // TIME_WAIT on the client, which closed first.
        let (c, s) = pair(&main, main_addr, None)?;
        c.shutdown(Shutdown::Write)?;
        read_to_eof(&s)?;
        drop(s);
        read_to_eof(&c)?;
        drop(c);
        p.add(TcpState::TimeWait, 1);

        // FIN_WAIT1: the server's FIN waits behind data the client never reads.
        let (c, s) = pair(&main, main_addr, Some(4096))?;
        stuff(&s)?;
        s.shutdown(Shutdown::Write)?;
        wait_state(&s, TcpState::FinWait1, "server FIN_WAIT1")?;
        p.keep(c);
        p.keep(s);
        p.add(TcpState::FinWait1, 1);
        p.add(TcpState::Established, 1);

        // LAST_ACK: the client closed first; the server's FIN is stuck.
        let (c, s) = pair(&main, main_addr, Some(4096))?;
        c.shutdown(Shutdown::Write)?;
        read_to_eof(&s)?;
        wait_state(&c, TcpState::FinWait2, "client FIN_WAIT2 before LAST_ACK")?;
        stuff(&s)?;
        s.shutdown(Shutdown::Write)?;
        wait_state(&s, TcpState::LastAck, "server LAST_ACK")?;
        p.keep(c);
        p.keep(s);
        p.add(TcpState::LastAck, 1);
        p.add(TcpState::FinWait2, 1);

        // CLOSING: both FINs stuck, then one side drains and sees the other's.
        let (c, s) = pair(&main, main_addr, Some(4096))?;
        s.set_recv_buffer_size(4096)?;
        stuff(&s)?;
        stuff(&c)?;
        s.shutdown(Shutdown::Write)?;
        c.shutdown(Shutdown::Write)?;
        read_to_eof(&c)?;
        wait_state(&c, TcpState::Closing, "client CLOSING")?;
        wait_state(
            &s,
            TcpState::FinWait2,
            "server FIN_WAIT2 after its FIN was acked",
        )?;
        p.keep(c);
        p.keep(s);
        p.add(TcpState::Closing, 1);
        p.add(TcpState::FinWait2, 1);
    }

    // SYN_SENT: backlog 0 holds one queued connection; later SYNs are dropped.
    let full_addr = addr("127.0.0.1", base_port + 1)?;
    let full = listener(full_addr, 0)?;
    p.add(TcpState::Listen, 1);
    let queued = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    queued.connect(&full_addr.into())?;
    // The listener's tcp_info "unacked" is its accept queue length.
    wait_until("accept queue of the backlog-0 listener holds one", || {
        Ok(tcp_info(&full)?.unacked >= 1)
    })?;
    p.keep(queued);
    p.add(TcpState::Established, 2); // the client and the queued server side
    for _ in 0..per_state {
        let c = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        c.set_nonblocking(true)?;
        match c.connect(&SockAddr::from(full_addr)) {
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Ok(()) => return Err(io::Error::other("connect to a full backlog succeeded")),
            Err(e) => return Err(e),
        }
        wait_state(&c, TcpState::SynSent, "client SYN_SENT")?;
        p.keep(c);
        p.add(TcpState::SynSent, 1);
    }
    p.keep(full);

    // SYN_RECV: TCP_DEFER_ACCEPT keeps the connection a request socket.
    let defer_addr = addr("127.0.0.1", base_port + 2)?;
    let defer = listener(defer_addr, 128)?;
    let secs: libc::c_int = 120;
    // SAFETY: setsockopt with a valid int.
    let rc = unsafe {
        libc::setsockopt(
            defer.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&secs as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    p.add(TcpState::Listen, 1);
    for _ in 0..per_state {
        let c = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        c.connect(&defer_addr.into())?;
        p.keep(c);
        p.add(TcpState::Established, 1);
        p.add(TcpState::SynRecv, 1);
    }
    p.keep(defer);

    // IPv6, when the namespace has ::1.
    let v6_addr = SocketAddr::new(Ipv6Addr::LOCALHOST.into(), base_port + 3);
    match listener(v6_addr, 128) {
        Ok(l6) => {
            let (c, s) = pair(&l6, v6_addr, None)?;
            p.keep(c);
            p.keep(s);
            p.keep(l6);
            p.add(TcpState::Listen, 1);
            p.add(TcpState::Established, 2);
            p.ipv6 = true;
        }
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EADDRNOTAVAIL | libc::EAFNOSUPPORT)
            ) => {}
        Err(e) => return Err(e),
    }

    p.keep(main);
    Ok(p)
}

/// `n` ESTABLISHED pairs (2n sockets) to 127.0.0.1:`port`, for tests that
/// need volume rather than variety.
pub fn build_established(port: u16, n: u64) -> io::Result<Population> {
    let mut p = Population::new();
    let a = addr("127.0.0.1", port)?;
    let l = listener(a, 4096)?;
    p.add(TcpState::Listen, 1);
    for _ in 0..n {
        let (c, s) = pair(&l, a, None)?;
        p.keep(c);
        p.keep(s);
    }
    p.add(TcpState::Established, 2 * n);
    p.keep(l);
    Ok(p)
}

impl Population {
    /// The inode numbers of the sockets held open (what /proc/PID/fd links
    /// name as `socket:[INODE]`).
    pub fn inodes(&self) -> Vec<u64> {
        self.sockets
            .iter()
            .filter_map(|s| {
                // SAFETY: stat is plain data; fstat fills it.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                // SAFETY: a valid fd and a valid stat buffer.
                (unsafe { libc::fstat(s.as_raw_fd(), &mut st) } == 0).then_some(st.st_ino)
            })
            .collect()
    }
}

/// `n` orphaned sockets: the server side writes more than the client will
/// read and closes, so its FIN waits behind the data in FIN_WAIT1 with no
/// process left (an orphan, counted against tcp_max_orphans).
pub fn build_orphans(port: u16, n: u64) -> io::Result<Population> {
    let mut p = Population::new();
    let a = addr("127.0.0.1", port)?;
    let l = listener(a, 4096)?;
    p.add(TcpState::Listen, 1);
    for _ in 0..n {
        let (c, s) = pair(&l, a, Some(4096))?;
        stuff(&s)?;
        drop(s);
        p.keep(c);
    }
    p.add(TcpState::Established, n);
    p.add(TcpState::FinWait1, n);
    p.keep(l);
    Ok(p)
}
