//! The processes a lab scenario runs: a server and a client, each a child
//! process of tcpdoctor (`tcpdoctor lab role ...`, hidden from --help) in
//! the scenario's network namespace, so that owners are real processes.
//!
//! They talk to the lab runner over stdio, one line each way:
//! - server: prints `ready`; on a `report` line on stdin prints
//!   `report {json}`; exits when stdin closes.
//! - client: prints `progress DONE TOTAL` now and then and `done {json}` at
//!   the end, then holds its sockets until stdin closes.

use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::BTreeMap;
use std::io::{self, BufRead, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// What a server does with each connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerMode {
    /// HTTP/1.1, answers with `Connection: close` and closes first.
    HttpClose,
    /// HTTP/1.1 keep-alive: answers every request, closes on the peer's EOF.
    HttpKeepAlive,
    /// Reads until EOF and never calls close(): CLOSE_WAIT.
    Leak,
    /// Listens and never calls accept().
    NoAccept,
}

/// What a client does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientMode {
    /// One new connection per request; reads the response, closes.
    Churn,
    /// The same requests over `conns` reused connections.
    KeepAlive,
    /// Connects, sends a request and closes at once (without reading).
    SendAndClose,
    /// Opens connections (non-blocking) and holds them.
    Hold,
}

/// Names as the `lab role --mode` flag takes them (and JSON writes them).
macro_rules! mode_names {
    ($ty:ident, $what:literal, $($variant:ident => $name:literal),+ $(,)?) => {
        impl $ty {
            pub const ALL: &[$ty] = &[$($ty::$variant),+];

            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $ty::ALL.iter().copied().find(|m| m.name() == s).ok_or_else(|| {
                    let names: Vec<&str> = $ty::ALL.iter().map(|m| m.name()).collect();
                    format!("unknown {} mode '{s}': expected one of {}", $what, names.join(", "))
                })
            }
        }
    };
}

mode_names!(ServerMode, "server",
    HttpClose => "http-close",
    HttpKeepAlive => "http-keep-alive",
    Leak => "leak",
    NoAccept => "no-accept",
);

mode_names!(ClientMode, "client",
    Churn => "churn",
    KeepAlive => "keep-alive",
    SendAndClose => "send-and-close",
    Hold => "hold",
);

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n";
const RESPONSE_CLOSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
const RESPONSE_KEEP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// What a role counted; errors by errno name ("EADDRNOTAVAIL").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleReport {
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    /// Server: connections accepted; client: connections opened.
    pub connections: u64,
    /// Server: fds kept open after the peer's EOF.
    pub leaked: u64,
}

impl RoleReport {
    fn error(&mut self, e: &io::Error) {
        *self.errors.entry(errno_name(e)).or_insert(0) += 1;
    }
}

/// "EADDRNOTAVAIL" for the errno of `e`, else its kind.
pub fn errno_name(e: &io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(libc::EADDRNOTAVAIL) => "EADDRNOTAVAIL",
        Some(libc::EADDRINUSE) => "EADDRINUSE",
        Some(libc::EMFILE) => "EMFILE",
        Some(libc::ENFILE) => "ENFILE",
        Some(libc::ECONNREFUSED) => "ECONNREFUSED",
        Some(libc::ECONNRESET) => "ECONNRESET",
        Some(libc::ETIMEDOUT) => "ETIMEDOUT",
        Some(libc::EPIPE) => "EPIPE",
        Some(libc::EAGAIN) => "EAGAIN",
        Some(n) => return format!("errno {n}"),
        None => return format!("{:?}", e.kind()),
    };
    name.to_string()
}

fn say(line: &str) {
    let mut out = io::stdout().lock();
    // The runner reads these; if it is gone there is no one to tell.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Reads a response of `Content-Length: 2` (ours). With `Connection:
/// close` it reads on to the server's EOF, so the server has closed first
/// by the time the client closes.
fn read_response(s: &mut impl Read) -> io::Result<()> {
    let mut buf = Vec::with_capacity(128);
    let mut chunk = [0u8; 512];
    loop {
        if let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n")
            && buf.len() >= head_end + 4 + 2
        {
            let closing = buf.windows(17).any(|w| w == b"Connection: close");
            if !closing {
                return Ok(());
            }
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Names the calling process (its comm, what `ps` and tcpdoctor show), at
/// most 15 bytes.
pub fn set_process_name(name: &str) {
    let mut buf = [0u8; 16];
    for (d, s) in buf.iter_mut().zip(name.bytes().take(15)) {
        *d = s;
    }
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, buf.as_ptr() as libc::c_ulong, 0, 0, 0) };
}

/// Lowers RLIMIT_NOFILE's soft limit (for the fd-exhaustion scenario).
pub fn limit_open_files(soft: u64) -> io::Result<()> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid rlimit to fill and then pass back.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(io::Error::last_os_error());
        }
        lim.rlim_cur = soft.min(lim.rlim_max);
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Runs the server until its stdin closes, or, `detached` (a kept lab),
/// until it is killed.
pub fn server(addr: SocketAddr, mode: ServerMode, backlog: i32, detached: bool) -> io::Result<()> {
    let l = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    l.set_reuse_address(true)?;
    l.bind(&addr.into())?;
    l.listen(backlog)?;
    l.set_nonblocking(true)?;
    let listener: std::net::TcpListener = l.into();
    say("ready");
    let mut report = RoleReport::default();
    let mut conns: Vec<TcpStream> = Vec::new();
    let mut held: Vec<TcpStream> = Vec::new();
    let mut pending: Vec<Vec<u8>> = Vec::new();
    let stdin_fd = io::stdin().as_raw_fd();
    let mut stdin = io::stdin().lock();
    let mut line = String::new();
    let mut stdin_open = true;
    // After EMFILE the listener stays readable: back off instead of spinning.
    let mut accept_paused_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let accept_now =
            mode != ServerMode::NoAccept && accept_paused_until.is_none_or(|t| now >= t);
        // A closed stdin stays readable: stop polling it once it is closed.
        let mut fds = vec![libc::pollfd {
            fd: if stdin_open { stdin_fd } else { -1 },
            events: libc::POLLIN,
            revents: 0,
        }];
        if accept_now {
            fds.push(libc::pollfd {
                fd: listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let first_conn = fds.len();
        for c in &conns {
            fds.push(libc::pollfd {
                fd: c.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let timeout = if accept_now || mode == ServerMode::NoAccept {
            -1
        } else {
            5
        };
        // SAFETY: fds is a valid array of pollfd for its length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if fds[0].revents != 0 {
            line.clear();
            if stdin.read_line(&mut line)? == 0 {
                if !detached {
                    return Ok(());
                }
                stdin_open = false;
            }
            if line.trim() == "report" {
                report.leaked = held.len() as u64;
                say(&format!(
                    "report {}",
                    serde_json::to_string(&report).map_err(io::Error::other)?
                ));
            }
        }
        if accept_now && fds[1].revents != 0 {
            loop {
                match listener.accept() {
                    Ok((c, _)) => {
                        c.set_nonblocking(true)?;
                        report.connections += 1;
                        conns.push(c);
                        pending.push(Vec::new());
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => {
                        report.error(&e);
                        accept_paused_until = Some(Instant::now() + Duration::from_millis(5));
                        break;
                    }
                }
            }
        }
        // Serve readable connections; iterate backwards to remove in place.
        let ready: Vec<usize> = (first_conn..fds.len())
            .filter(|i| fds[*i].revents != 0)
            .map(|i| i - first_conn)
            .collect();
        for idx in ready.into_iter().rev() {
            let mut buf = [0u8; 4096];
            let (done, eof) = {
                let c = &mut conns[idx];
                let req = &mut pending[idx];
                let mut eof = false;
                loop {
                    match c.read(&mut buf) {
                        Ok(0) => {
                            eof = true;
                            break;
                        }
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => {
                            report.error(&e);
                            eof = true;
                            break;
                        }
                    }
                }
                let mut done = false;
                while let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                    req.drain(..end + 4);
                    match mode {
                        ServerMode::HttpClose => {
                            let _ = c.write_all(RESPONSE_CLOSE);
                            report.ok += 1;
                            done = true;
                            break;
                        }
                        ServerMode::HttpKeepAlive => {
                            let _ = c.write_all(RESPONSE_KEEP);
                            report.ok += 1;
                        }
                        ServerMode::Leak | ServerMode::NoAccept => {}
                    }
                }
                (done, eof)
            };
            if done || (eof && mode != ServerMode::Leak) {
                // Closing first (HttpClose), or after the peer's EOF.
                conns.swap_remove(idx);
                pending.swap_remove(idx);
            } else if eof {
                // The bug on purpose: EOF seen, close() never called.
                held.push(conns.swap_remove(idx));
                pending.swap_remove(idx);
            }
        }
    }
}

/// Runs the client: `count` requests (or connections), then reports and
/// holds what it has until stdin closes, or, `detached`, until killed.
pub fn client(
    addr: SocketAddr,
    mode: ClientMode,
    count: u64,
    conns: u64,
    detached: bool,
) -> io::Result<()> {
    let mut report = RoleReport::default();
    let mut kept: Vec<TcpStream> = Vec::new();
    let mut held: Vec<Socket> = Vec::new();
    let step = (count / 20).max(1);
    match mode {
        ClientMode::Churn | ClientMode::SendAndClose => {
            // Like a real application, a churning client has some connection
            // to its upstream open at any moment: this one stays.
            if mode == ClientMode::Churn {
                match TcpStream::connect(addr) {
                    Ok(s) => kept.push(s),
                    Err(e) => report.error(&e),
                }
            }
            for i in 0..count {
                match TcpStream::connect(addr) {
                    Ok(mut s) => {
                        report.connections += 1;
                        let r = s.write_all(REQUEST).and_then(|_| {
                            if mode == ClientMode::Churn {
                                read_response(&mut s)
                            } else {
                                Ok(())
                            }
                        });
                        match r {
                            Ok(()) => report.ok += 1,
                            Err(e) => report.error(&e),
                        }
                        // The client closes first (or right after the
                        // server's FIN, for Connection: close).
                        let _ = s.shutdown(Shutdown::Both);
                        drop(s);
                    }
                    Err(e) => report.error(&e),
                }
                if (i + 1) % step == 0 {
                    say(&format!("progress {} {count}", i + 1));
                }
            }
        }
        ClientMode::KeepAlive => {
            for _ in 0..conns.max(1) {
                match TcpStream::connect(addr) {
                    Ok(s) => {
                        report.connections += 1;
                        kept.push(s);
                    }
                    Err(e) => report.error(&e),
                }
            }
            for i in 0..count {
                if kept.is_empty() {
                    break;
                }
                let n = kept.len();
                let s = &mut kept[(i as usize) % n];
                match s.write_all(REQUEST).and_then(|_| read_response(s)) {
                    Ok(()) => report.ok += 1,
                    Err(e) => report.error(&e),
                }
                if (i + 1) % step == 0 {
                    say(&format!("progress {} {count}", i + 1));
                }
            }
            // Done with the upstream: close the few reused connections.
            for s in kept.drain(..) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        ClientMode::Hold => {
            for i in 0..count {
                let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
                s.set_nonblocking(true)?;
                match s.connect(&addr.into()) {
                    Ok(()) => report.ok += 1,
                    Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => report.ok += 1,
                    Err(e) => report.error(&e),
                }
                report.connections += 1;
                held.push(s);
                if (i + 1) % step == 0 {
                    say(&format!("progress {} {count}", i + 1));
                }
            }
        }
    }
    say(&format!(
        "done {}",
        serde_json::to_string(&report).map_err(io::Error::other)?
    ));
    // Hold the sockets (the state being shown) until the runner is done.
    let mut line = String::new();
    let mut stdin = io::stdin().lock();
    while stdin.read_line(&mut line)? > 0 {
        line.clear();
    }
    if detached {
        loop {
            // SAFETY: pause just sleeps until a signal ends the process.
            unsafe { libc::pause() };
        }
    }
    drop(held);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_names_are_the_json_names_and_parse_back() {
        for m in ServerMode::ALL {
            let json = serde_json::to_value(m).expect("serializes");
            assert_eq!(json.as_str(), Some(m.name()));
            assert_eq!(m.name().parse::<ServerMode>(), Ok(*m));
        }
        for m in ClientMode::ALL {
            let json = serde_json::to_value(m).expect("serializes");
            assert_eq!(json.as_str(), Some(m.name()));
            assert_eq!(m.name().parse::<ClientMode>(), Ok(*m));
        }
        assert!("nope".parse::<ServerMode>().is_err());
    }

    #[test]
    fn errno_names_are_the_ones_people_search_for() {
        assert_eq!(
            errno_name(&io::Error::from_raw_os_error(libc::EADDRNOTAVAIL)),
            "EADDRNOTAVAIL"
        );
        assert_eq!(
            errno_name(&io::Error::from_raw_os_error(libc::EMFILE)),
            "EMFILE"
        );
        assert_eq!(
            errno_name(&io::Error::from_raw_os_error(9999)),
            "errno 9999"
        );
    }
}
