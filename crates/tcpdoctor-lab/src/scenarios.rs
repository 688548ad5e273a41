//! The lab's scenarios: each a real problem, built by a server and a client
//! process in a private network namespace, with the checks that prove it
//! happened. `tcpdoctor lab list` prints these; the test suite runs each.

use super::roles::{ClientMode, RoleReport, ServerMode};
use serde::Serialize;
use std::collections::BTreeMap;
use tcpdoctor_core::model::{RowFilter, Side, Snapshot, Socket, SocketRow, TcpState, rows};

/// The server listens here, inside the scenario's own namespace.
pub const SERVER_ADDR: &str = "127.0.0.1:8080";
pub const SERVER_PORT: u16 = 8080;

/// What was observed in the namespace once the client was done.
#[derive(Clone, Debug, Default)]
pub struct Observation {
    pub census: BTreeMap<TcpState, u64>,
    /// The namespace's sockets and their owners.
    pub snapshot: Snapshot,
    /// TcpExt counters of the namespace (it starts from zero).
    pub tcp_ext: BTreeMap<String, i64>,
    pub client: RoleReport,
    pub server: RoleReport,
    pub server_pid: u32,
    pub client_pid: u32,
}

impl Observation {
    pub fn count(&self, s: TcpState) -> u64 {
        self.census.get(&s).copied().unwrap_or(0)
    }

    fn rows_where(&self, f: impl Fn(&SocketRow) -> bool) -> Vec<SocketRow<'_>> {
        let mut v = rows(&self.snapshot, &RowFilter::default()).rows;
        v.retain(|r| f(r));
        v
    }

    fn counter(&self, name: &str) -> i64 {
        self.tcp_ext.get(name).copied().unwrap_or(0)
    }

    fn client_errors(&self, name: &str) -> u64 {
        self.client.errors.get(name).copied().unwrap_or(0)
    }

    fn server_errors(&self, name: &str) -> u64 {
        self.server.errors.get(name).copied().unwrap_or(0)
    }
}

/// One thing a scenario must have produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub what: String,
    pub ok: bool,
}

fn check(ok: bool, what: String) -> Check {
    Check { what, ok }
}

fn is_server_side(s: &Socket) -> bool {
    s.local.port == SERVER_PORT
}

fn to_server(s: &Socket) -> bool {
    s.remote.port == SERVER_PORT
}

/// A lab scenario.
pub struct Scenario {
    pub name: &'static str,
    pub summary: &'static str,
    /// What it shows and what the fix is, for the person watching.
    pub lesson: &'static str,
    pub default_scale: u64,
    pub server: ServerMode,
    pub backlog: i32,
    /// RLIMIT_NOFILE soft limit for the server.
    pub server_nofile: Option<u64>,
    pub client: ClientMode,
    /// Connections the keep-alive client reuses.
    pub client_conns: u64,
    /// Sysctls of the scenario's namespace (never the host's).
    pub sysctls: &'static [(&'static str, &'static str)],
    pub checks: fn(&Observation, u64) -> Vec<Check>,
}

/// The TIME_WAIT scenarios' checks: the client got `n` responses, and at
/// least `n` TIME_WAIT sockets `at` a place, each on `side` and likely
/// owned by `closer` (who, pid): the side that closed first.
fn time_wait_checks(
    o: &Observation,
    n: u64,
    at: (&str, fn(&Socket) -> bool),
    side: Side,
    closer: (&str, u32),
) -> Vec<Check> {
    let (place, is_at) = at;
    let (who, pid) = closer;
    let tw = o.rows_where(|r| r.socket.state == TcpState::TimeWait && is_at(r.socket));
    let likely = tw
        .iter()
        .filter(|r| r.side == Some(side) && r.likely_owners.contains(&pid))
        .count();
    let side_name = match side {
        Side::Inbound => "inbound",
        Side::Outbound => "outbound",
    };
    vec![
        check(
            o.client.ok == n,
            format!("the client got {n} responses (got {})", o.client.ok),
        ),
        check(
            tw.len() as u64 >= n,
            format!("at least {n} TIME_WAIT {place} (saw {})", tw.len()),
        ),
        check(
            likely == tw.len() && !tw.is_empty(),
            format!(
                "each is {side_name} and likely the {who}'s, pid {pid} ({likely} of {})",
                tw.len()
            ),
        ),
    ]
}

fn checks_server_close(o: &Observation, n: u64) -> Vec<Check> {
    let place = format!("on the server's port {SERVER_PORT}");
    let closer = ("server", o.server_pid);
    time_wait_checks(o, n, (&place, is_server_side), Side::Inbound, closer)
}

fn checks_client_churn(o: &Observation, n: u64) -> Vec<Check> {
    let place = format!("toward the upstream {SERVER_ADDR}");
    let closer = ("client", o.client_pid);
    time_wait_checks(o, n, (&place, to_server), Side::Outbound, closer)
}

fn checks_port_exhaustion(o: &Observation, n: u64) -> Vec<Check> {
    let eaddr = o.client_errors("EADDRNOTAVAIL");
    let tw = o
        .rows_where(|r| r.socket.state == TcpState::TimeWait && to_server(r.socket))
        .len() as u64;
    vec![
        check(
            eaddr > 0,
            format!(
                "connect() failed with EADDRNOTAVAIL, \"Cannot assign requested address\" ({eaddr} \
                    of {n} attempts)"
            ),
        ),
        check(
            tw >= 90,
            format!("the 100-port range is held by TIME_WAIT toward {SERVER_ADDR} (saw {tw})"),
        ),
    ]
}

fn checks_close_wait(o: &Observation, n: u64) -> Vec<Check> {
    let cw = o.rows_where(|r| {
        r.socket.state == TcpState::CloseWait && r.owners.iter().any(|f| f.pid == o.server_pid)
    });
    vec![
        check(
            cw.len() as u64 >= n,
            format!(
                "at least {n} CLOSE_WAIT owned by the server, pid {} (saw {})",
                o.server_pid,
                cw.len()
            ),
        ),
        check(
            o.server.leaked >= n,
            format!("the server read EOF and kept {} fds open", o.server.leaked),
        ),
    ]
}

fn checks_fd_exhaustion(o: &Observation, _n: u64) -> Vec<Check> {
    let emfile = o.server_errors("EMFILE");
    let cw = o.rows_where(|r| {
        r.socket.state == TcpState::CloseWait && r.owners.iter().any(|f| f.pid == o.server_pid)
    });
    let queued: u32 = o
        .rows_where(|r| r.socket.state == TcpState::Listen && is_server_side(r.socket))
        .iter()
        .map(|r| r.socket.recv_q)
        .sum();
    vec![
        check(
            emfile > 0,
            format!("accept() failed with EMFILE, \"Too many open files\" ({emfile} times)"),
        ),
        check(
            !cw.is_empty() && cw.len() <= 64,
            format!(
                "the server holds as many CLOSE_WAIT as its limit of 64 fds allows ({})",
                cw.len()
            ),
        ),
        check(
            queued > 0,
            format!("connections wait in the accept queue, never accepted ({queued})"),
        ),
    ]
}

fn checks_fin_wait2(o: &Observation, n: u64) -> Vec<Check> {
    let orphans = o
        .rows_where(|r| r.socket.state == TcpState::FinWait2 && r.socket.inode == 0)
        .len() as u64;
    vec![
        check(
            orphans >= n,
            format!(
                "at least {n} orphaned FIN_WAIT2 (no process, no fd) on the client side (saw \
                    {orphans})"
            ),
        ),
        check(
            o.count(TcpState::CloseWait) >= n,
            format!(
                "the server side sits in CLOSE_WAIT ({})",
                o.count(TcpState::CloseWait)
            ),
        ),
    ]
}

fn checks_accept_overflow(o: &Observation, _n: u64) -> Vec<Check> {
    let overflows = o.counter("ListenOverflows");
    let queued: u32 = o
        .rows_where(|r| r.socket.state == TcpState::Listen && is_server_side(r.socket))
        .iter()
        .map(|r| r.socket.recv_q)
        .sum();
    let waiting = o.count(TcpState::SynSent) + o.count(TcpState::SynRecv);
    vec![
        check(
            overflows > 0,
            format!("TcpExt ListenOverflows grew ({overflows})"),
        ),
        check(
            queued == 9,
            format!("the accept queue is full at backlog 8 + 1 ({queued})"),
        ),
        check(
            waiting > 0,
            format!("connections wait in SYN_SENT or SYN_RECV ({waiting})"),
        ),
    ]
}

fn checks_tw_buckets(o: &Observation, n: u64) -> Vec<Check> {
    let overflow = o.counter("TCPTimeWaitOverflow");
    let tw = o.count(TcpState::TimeWait);
    vec![
        check(
            overflow > 0,
            format!("TcpExt TCPTimeWaitOverflow grew ({overflow} of {n} closes)"),
        ),
        check(
            tw <= 32,
            format!("TIME_WAIT stays at tcp_max_tw_buckets = 32 ({tw})"),
        ),
    ]
}

fn checks_keep_alive(o: &Observation, n: u64) -> Vec<Check> {
    let tw = o.count(TcpState::TimeWait);
    vec![
        check(
            o.client.ok == n,
            format!("the client got {n} responses (got {})", o.client.ok),
        ),
        check(
            o.client.connections <= 4,
            format!("over {} connections", o.client.connections),
        ),
        check(tw <= 4, format!("at most 4 TIME_WAIT, not {n} ({tw})")),
    ]
}

pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "time-wait-server-close",
        summary: "An HTTP/1.1 server answers `Connection: close` and closes first: TIME_WAIT piles \
            up on its listening port.",
        lesson: "TIME_WAIT belongs to whoever closes first. Here that is the server, so the pile \
            sits on its listening port, one per request, for 60 s each. It is cheap (~168 bytes \
            each) and harmless until something else breaks; to avoid it, let clients keep \
            connections alive (HTTP/1.1 keep-alive) or close first.",
        default_scale: 500,
        server: ServerMode::HttpClose,
        backlog: 1024,
        server_nofile: None,
        client: ClientMode::Churn,
        client_conns: 0,
        sysctls: &[],
        checks: checks_server_close,
    },
    Scenario {
        name: "time-wait-client-churn",
        summary: "A client opens a new short connection per request to one upstream ip:port and \
            closes first.",
        lesson: "Every request leaves a TIME_WAIT on the client, toward the same upstream ip:port, \
            each holding an ephemeral port for 60 s. At ~470 new connections per second the \
            default range runs out. The fix is reuse: keep-alive, connection pools (nginx: \
            `keepalive` in the upstream block, `proxy_http_version 1.1`, `proxy_set_header \
            Connection \"\"`).",
        default_scale: 500,
        server: ServerMode::HttpKeepAlive,
        backlog: 1024,
        server_nofile: None,
        client: ClientMode::Churn,
        client_conns: 0,
        sysctls: &[],
        checks: checks_client_churn,
    },
    Scenario {
        name: "port-exhaustion",
        summary: "The same churn with ip_local_port_range narrowed to 100 ports, until connect() \
            fails with EADDRNOTAVAIL.",
        lesson: "Ports are per (local IP, remote IP, remote port): 100 ports, each held 60 s by \
            TIME_WAIT, allow 100 connections a minute to one upstream. The error is EADDRNOTAVAIL \
            \"Cannot assign requested address\" (not EADDRINUSE). Fixes, in order: reuse \
            connections; more upstream IPs or ports; tcp_tw_reuse=1 on this client; a wider \
            range. Never tcp_tw_recycle. (tcp_tw_reuse is set to 0 here: its default of 2 reuses \
            TIME_WAIT on loopback.)",
        default_scale: 300,
        server: ServerMode::HttpKeepAlive,
        backlog: 1024,
        server_nofile: None,
        client: ClientMode::Churn,
        client_conns: 0,
        sysctls: &[
            ("net.ipv4.ip_local_port_range", "50000 50099"),
            ("net.ipv4.tcp_tw_reuse", "0"),
        ],
        checks: checks_port_exhaustion,
    },
    Scenario {
        name: "close-wait-leak",
        summary: "A server reads the peer's EOF and never calls close(): CLOSE_WAIT piles up, each \
            holding an fd.",
        lesson: "CLOSE_WAIT means the peer closed and this process has not. No sysctl removes it: \
            only close() (or the process exiting) does. Look at the fds tcpdoctor names, the code \
            path that reads EOF (read() == 0) and the error paths that return without closing.",
        default_scale: 200,
        server: ServerMode::Leak,
        backlog: 1024,
        server_nofile: None,
        client: ClientMode::SendAndClose,
        client_conns: 0,
        sysctls: &[],
        checks: checks_close_wait,
    },
    Scenario {
        name: "fd-exhaustion",
        summary: "The same leak under RLIMIT_NOFILE 64, until accept() fails with EMFILE \"Too \
            many open files\".",
        lesson: "Every CLOSE_WAIT holds a file descriptor. When the process reaches RLIMIT_NOFILE, \
            accept() and open() fail with EMFILE while the kernel keeps completing handshakes \
            into the accept queue. Raising the limit buys time; closing the leaked sockets is the \
            fix.",
        default_scale: 200,
        server: ServerMode::Leak,
        backlog: 4096,
        server_nofile: Some(64),
        client: ClientMode::SendAndClose,
        client_conns: 0,
        sysctls: &[],
        checks: checks_fd_exhaustion,
    },
    Scenario {
        name: "fin-wait2-orphans",
        summary: "The active closer's FIN_WAIT2 while the peer never closes.",
        lesson: "The client closed; the server never did (CLOSE_WAIT). The client's sockets wait \
            in FIN_WAIT2 with no process: orphans, bounded by net.ipv4.tcp_fin_timeout (60 s). \
            That sysctl bounds only these orphans; it does not shorten TIME_WAIT, and it cannot \
            fix the CLOSE_WAIT on the other side.",
        default_scale: 200,
        server: ServerMode::Leak,
        backlog: 1024,
        server_nofile: None,
        client: ClientMode::SendAndClose,
        client_conns: 0,
        sysctls: &[],
        checks: checks_fin_wait2,
    },
    Scenario {
        name: "accept-queue-overflow",
        summary: "A listener with backlog 8 never calls accept(): its queue fills, ListenOverflows \
            grows, connections wait.",
        lesson: "The accept queue holds connections the kernel completed but the application has \
            not accept()ed. Full, it drops new handshakes (TcpExt ListenOverflows, ListenDrops) \
            and clients wait and retry. Accept faster (more workers), or raise the listen() \
            backlog together with net.core.somaxconn.",
        default_scale: 64,
        server: ServerMode::NoAccept,
        backlog: 8,
        server_nofile: None,
        client: ClientMode::Hold,
        client_conns: 0,
        sysctls: &[],
        checks: checks_accept_overflow,
    },
    Scenario {
        name: "tw-bucket-overflow",
        summary: "tcp_max_tw_buckets lowered to 32: TIME_WAIT sockets beyond it are destroyed at \
            once.",
        lesson: "Over tcp_max_tw_buckets the kernel kills new TIME_WAIT sockets at once, counts \
            TCPTimeWaitOverflow and logs \"TCP: time wait bucket table overflow\". That throws \
            away TIME_WAIT's protection against old duplicate segments; the kernel documentation \
            says not to lower it. Reuse connections instead.",
        default_scale: 200,
        server: ServerMode::HttpKeepAlive,
        backlog: 1024,
        server_nofile: None,
        client: ClientMode::Churn,
        client_conns: 0,
        sysctls: &[("net.ipv4.tcp_max_tw_buckets", "32")],
        checks: checks_tw_buckets,
    },
    Scenario {
        name: "keep-alive",
        summary: "The load of time-wait-client-churn over 4 reused connections: no TIME_WAIT pile. \
            The fix, shown.",
        lesson: "The same requests over a few kept-alive connections leave at most one TIME_WAIT \
            per connection when they finally close. This is the fix for client churn and port \
            exhaustion: HTTP keep-alive, connection pools, nginx upstream keepalive.",
        default_scale: 500,
        server: ServerMode::HttpKeepAlive,
        backlog: 1024,
        server_nofile: None,
        client: ClientMode::KeepAlive,
        client_conns: 4,
        sysctls: &[],
        checks: checks_keep_alive,
    },
];

/// A scenario by name.
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}
