//! `tcpdoctor explain TOPIC`: a TCP state, a finding id or a sysctl, in our
//! own words (facts from shared/knowledge.md), with the TCP open and close
//! sequences drawn and the state's place marked.

use super::{rules, sysctls};
use crate::model::TcpState;

const CLOSE_DIAGRAM: &str = "
    active closer (closes first)                  passive closer
    ESTABLISHED                                   ESTABLISHED
      close(): FIN  -------------------------->
    FIN_WAIT1                                     CLOSE_WAIT   (read() returns 0;
                   <--------------------------  ACK              the app must close())
    FIN_WAIT2                                       |
                   <--------------------------  FIN   close()
    TIME_WAIT   (60 s, fixed on Linux)            LAST_ACK
                   ACK  -------------------------->
    CLOSED                                        CLOSED
    (both close at once: FIN_WAIT1 -> CLOSING -> TIME_WAIT)";

const OPEN_DIAGRAM: &str = "
    client                                        server
    CLOSE                                         LISTEN       (listen(backlog))
      connect(): SYN  ------------------------>
    SYN_SENT                                      SYN_RECV     (a request socket)
                   <------------------------  SYN+ACK
    ESTABLISHED    ACK  -------------------------->
                                                  ESTABLISHED  (in the accept queue
                                                               until accept())";

/// The diagram(s) with the lines naming `state` marked by `>`.
pub(super) fn diagram(state: TcpState) -> String {
    let name = state.netstat_name();
    // The diagrams start with a newline so that their indentation survives.
    let mark = |text: &str| -> String {
        text.trim_start_matches('\n')
            .lines()
            .map(|l| {
                let hit = l
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .any(|w| w == name);
                if hit {
                    format!("> {}", l.replacen(name, &format!("[{name}]"), 1))
                } else {
                    format!("  {l}")
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    match state {
        TcpState::Listen | TcpState::SynSent | TcpState::SynRecv => mark(OPEN_DIAGRAM),
        TcpState::Established => format!("{}\n\n{}", mark(OPEN_DIAGRAM), mark(CLOSE_DIAGRAM)),
        _ => mark(CLOSE_DIAGRAM),
    }
}

/// What a state is, who ends up in it, and what to do.
fn state_text(s: TcpState) -> (&'static str, &'static str, &'static str) {
    match s {
        TcpState::Listen => (
            "A socket waiting for connections (listen()). Its Recv-Q is the accept queue: \
                connections the kernel completed and the application has not accept()ed; its \
                Send-Q is the backlog.",
            "Every server.",
            "Watch Recv-Q: at the backlog, new connections are dropped (ListenOverflows). Accept \
                faster or raise the backlog with net.core.somaxconn. `tcpdoctor diagnose` checks \
                it (accept-queue-overflow).",
        ),
        TcpState::SynSent => (
            "A connect() sent its SYN and waits for the SYN+ACK.",
            "Clients. Many that stay mean the server does not answer: down, filtered, or its \
                accept queue is full and it drops SYNs.",
            "Check the server side (its listener's Recv-Q, ListenOverflows) and the path to it.",
        ),
        TcpState::SynRecv => (
            "The server answered a SYN and waits for the client's final ACK (a request socket: no \
                fd, no process yet).",
            "Servers, briefly. Many at once mean a SYN flood or clients that never finish the \
                handshake.",
            "Keep net.ipv4.tcp_syncookies=1; compare with tcp_max_syn_backlog (syn-backlog).",
        ),
        TcpState::Established => (
            "An open connection.",
            "Both ends.",
            "Nothing, unless there are far more than the load explains (a pool that never shrinks) \
                or a process nears RLIMIT_NOFILE (fd-exhaustion).",
        ),
        TcpState::FinWait1 => (
            "This side closed and sent its FIN; the peer has not acknowledged it yet. It lingers \
                when data queued before the FIN cannot be sent: the peer's receive window is zero \
                (it stopped reading).",
            "The side that closes first.",
            "Many that stay: peers that do not read. Orphaned ones count against tcp_max_orphans \
                (orphan-limit).",
        ),
        TcpState::FinWait2 => (
            "This side closed, the peer acknowledged, and its own FIN has not come: the peer is in \
                CLOSE_WAIT. Without a process (orphan) the kernel keeps it for \
                net.ipv4.tcp_fin_timeout, then drops it; with one (after shutdown(SHUT_WR)) it \
                lasts as long as the peer's CLOSE_WAIT.",
            "The side that closes first, while the other side has not closed.",
            "The fix is on the peer: it never calls close() (see close-wait-leak there). \
                tcp_fin_timeout bounds only these orphans.",
        ),
        TcpState::TimeWait => (
            "The connection is closed; this side keeps its 4-tuple for 60 s (fixed on Linux, \
                TCP_TIMEWAIT_LEN) to resend the last ACK if it was lost and to let stray segments \
                of the old connection die out. No process owns it.",
            "Whichever side closed first: a server that closes first (Connection: close, HTTP/1.0, \
                timeouts) collects it on its listening port; a client that closes first, on \
                ephemeral ports toward its upstream. To see which process closed each one, as \
                root: `tcpdoctor trace`, or `tcpdoctor sockets -s time-wait --trace 10`.",
            "Usually nothing: ~168 bytes each. It matters when a client runs out of ephemeral \
                ports for one upstream (port-exhaustion): reuse connections, add 4-tuples, \
                tcp_tw_reuse=1 on that client. tcp_fin_timeout does not shorten it; \
                tcp_tw_recycle is gone (Linux 4.12) and broke clients behind NAT.",
        ),
        TcpState::Close => (
            "No connection: a socket that is bound but not connected or listening, or one that is \
                finished.",
            "Rarely seen in dumps.",
            "Nothing.",
        ),
        TcpState::CloseWait => (
            "The peer closed (its FIN arrived: read() returns 0) and this process has not called \
                close(). Only close(), or the process exiting, ends it; no kernel setting does.",
            "The passive closer: the side whose peer closed first.",
            "If they persist it is an application bug: a code path that sees EOF or an error and \
                returns without closing, or a pool that keeps dead connections. `tcpdoctor \
                sockets --state close-wait` names the process, fd, peer, unread bytes and how \
                long ago the FIN came.",
        ),
        TcpState::LastAck => (
            "The peer closed first, this side then closed and sent its FIN, and waits for the \
                final ACK.",
            "The passive closer, briefly.",
            "Many that stay: the peers vanished (their ACK never comes) or do not read (the FIN \
                waits behind unsent data).",
        ),
        TcpState::Closing => (
            "Both sides sent a FIN at about the same time; this side waits for the ACK of its own \
                FIN.",
            "Both ends of a simultaneous close.",
            "Rare and brief; many that stay mean the ACKs do not come back.",
        ),
    }
}

/// An error message people see, by its text and its errno name.
struct ErrorTopic {
    errno: &'static str,
    message: &'static str,
    text: &'static str,
}

const ERRORS: &[ErrorTopic] = &[
    ErrorTopic {
        errno: "EADDRINUSE",
        message: "address already in use",
        text: "Which call: bind() (a server starting, or a client binding a fixed source port), \
            not connect(). Why: another socket holds that local address and port: a listener \
            (the service is already running, or an old instance has not exited), or \
            connections left on that port, TIME_WAIT among them when the server closed first. A \
            server sets SO_REUSEADDR before bind() so that TIME_WAIT on its port does not stop \
            a restart; two live listeners on one port need SO_REUSEPORT in both. Mix-up: it is \
            not port exhaustion (that is EADDRNOTAVAIL on connect()). Check here: `tcpdoctor \
            explain EADDRINUSE --port PORT` lists what holds the port.",
    },
    ErrorTopic {
        errno: "EADDRNOTAVAIL",
        message: "cannot assign requested address",
        text: "Which call: connect() (or bind() to an address this host does not have). Why: no \
            free ephemeral port is left toward that remote ip:port: every port of \
            ip_local_port_range (minus ip_local_reserved_ports) is held by a connection to it, \
            TIME_WAIT included, because the client opens a connection per request. Remedy: \
            reuse connections (keep-alive, a pool), more 4-tuples, tcp_tw_reuse=1 on this \
            client, a wider port range; never tcp_tw_recycle. Mix-up: it is not \"address \
            already in use\". Check here: `tcpdoctor diagnose` (port-exhaustion) and \
            `tcpdoctor census --state time-wait --by remote`.",
    },
    ErrorTopic {
        errno: "EMFILE",
        message: "too many open files",
        text: "Which call: any that makes a file descriptor: accept(), socket(), open(), pipe(). \
            Why: the process reached its RLIMIT_NOFILE soft limit; sockets in CLOSE_WAIT hold \
            fds until close(), so a CLOSE_WAIT leak ends here. A server at its limit cannot \
            accept(): clients wait in its accept queue. Remedy: find what holds the fds (a leak \
            is fixed in code, not by a higher limit), then raise LimitNOFILE= in the systemd \
            unit or the program's own setting. Mix-up: ENFILE (\"in system\") is the host's \
            fs.file-max, not the process's limit. Check here: `tcpdoctor diagnose` \
            (fd-exhaustion, close-wait-leak) and `tcpdoctor census --by process`.",
    },
    ErrorTopic {
        errno: "ENFILE",
        message: "too many open files in system",
        text: "Which call: any that makes a file descriptor. Why: the whole host reached \
            fs.file-max, the sum of every process's open files. Remedy: find the processes with \
            the most fds and their leaks; raise fs.file-max if the load is real. Mix-up: EMFILE \
            is one process's limit. Check here: `tcpdoctor diagnose` (fd-exhaustion on \
            fs.file-max) and `tcpdoctor host`.",
    },
    ErrorTopic {
        errno: "ECONNREFUSED",
        message: "connection refused",
        text: "Which call: connect(). Why: the peer answered the SYN with a reset: nothing \
            listens on that ip:port there (the service is down, bound to another address such \
            as 127.0.0.1 only, or a firewall rejects). A full accept queue does not refuse: it \
            drops the SYN and the client times out (unless tcp_abort_on_overflow=1). Check \
            here: `tcpdoctor sockets --state listen --sport PORT` on the server shows whether \
            and where it listens.",
    },
    ErrorTopic {
        errno: "ECONNRESET",
        message: "connection reset by peer",
        text: "Which call: read()/recv() or write()/send() on an established connection. Why: \
            the peer sent a reset: it closed with unread data in its buffer, its process died, \
            it used SO_LINGER 0, a middlebox dropped the connection's state, or this side wrote \
            to a connection the peer had already closed (a pooled connection the server's idle \
            timeout closed: CLOSE_WAIT here before the write). Check here: `tcpdoctor sockets \
            --state close-wait` (a pool reusing closed connections) and the peer's logs.",
    },
    ErrorTopic {
        errno: "ETIMEDOUT",
        message: "connection timed out",
        text: "Which call: connect() (no answer to the SYN after tcp_syn_retries), or a read or \
            write on an established connection (tcp_retries2 retransmissions, or keepalive \
            probes, unanswered). Why: the peer or the path is gone, a firewall drops silently, \
            or the server's accept queue or SYN queue is full and it drops SYNs. Check here: \
            on the server, `tcpdoctor diagnose` (accept-queue-overflow, syn-backlog).",
    },
];

/// The error topic for an errno name or a message as printed (any case,
/// with or without "errno", a trailing "(os error N)" ignored).
fn error_topic(t: &str) -> Option<&'static ErrorTopic> {
    let t = t.split(" (os error").next().unwrap_or(t).trim();
    ERRORS
        .iter()
        .find(|e| e.errno.eq_ignore_ascii_case(t) || e.message.eq_ignore_ascii_case(t))
}

/// Whether a topic is an error message or errno name (then `--port` can
/// show what holds a port).
pub fn is_error_topic(topic: &str) -> bool {
    error_topic(&normalise(topic)).is_some()
}

fn normalise(topic: &str) -> String {
    topic.trim().to_ascii_lowercase()
}

/// The list of topics, for an unknown one.
pub fn topics() -> String {
    let states: Vec<&str> = TcpState::ALL.iter().map(|s| s.netstat_name()).collect();
    let ids: Vec<&str> = rules::ALL.iter().map(|r| r.doc().id).collect();
    let sysctls: Vec<&str> = sysctls::KNOBS.iter().map(|s| s.name).collect();
    let errors: Vec<String> = ERRORS
        .iter()
        .map(|e| format!("{} (\"{}\")", e.errno, e.message))
        .collect();
    format!(
        "states: {}\nfindings: {}\nsysctls: {}\nerrors: {}",
        states.join(", "),
        ids.join(", "),
        sysctls.join(", "),
        errors.join(", ")
    )
}

/// The explanation of a topic, or None when it is not one.
pub fn explain(topic: &str) -> Option<String> {
    // A diagnosis from counts names its findings counts-STATE: explain the
    // state.
    let topic = topic.strip_prefix("counts-").unwrap_or(topic);
    let t = normalise(topic);
    if let Ok(state) = topic.parse::<TcpState>() {
        let (what, who, todo) = state_text(state);
        return Some(format!(
            "{name} ({ss} in ss)\n\nWhat it is: {what}\n\nWho ends up in it: \
                {who}\n\n{diagram}\n\nWhat to do: {todo}\n",
            name = state.netstat_name(),
            ss = state.ss_name(),
            diagram = diagram(state),
        ));
    }
    if let Some(d) = rules::doc(&t) {
        let mut text = super::rule_text(d);
        if let Some(s) = d.diagram {
            text.push('\n');
            text.push_str(&diagram(s));
            text.push('\n');
        }
        return Some(text);
    }
    if let Some(e) = error_topic(&t) {
        let message = format!("{}{}", e.message[..1].to_ascii_uppercase(), &e.message[1..]);
        return Some(format!("{} (\"{message}\")\n\n{}\n", e.errno, e.text));
    }
    let key = t.replace('-', "_");
    sysctls::KNOBS
        .iter()
        .find(|s| s.name == key || s.name.rsplit('.').next() == Some(key.as_str()))
        .map(|s| format!("{}\n\n{}\n", s.name, s.text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_finding_and_listed_sysctl_has_an_explanation() {
        for s in TcpState::ALL {
            let text = explain(s.netstat_name()).expect("a state");
            assert!(text.contains("What to do"), "{s}");
        }
        for r in rules::ALL {
            assert!(explain(r.doc().id).is_some(), "{}", r.doc().id);
        }
        for s in sysctls::KNOBS {
            assert!(explain(s.name).is_some());
        }
        assert!(
            explain("tcp_fin_timeout").is_some_and(|t| t.contains("does NOT change TIME_WAIT"))
        );
        assert!(explain("close-wait").is_some_and(|t| t.starts_with("CLOSE_WAIT")));
        assert!(explain("no-such-topic").is_none());
        for e in ERRORS {
            assert!(explain(e.errno).is_some_and(|t| t.contains("Which call")));
            assert!(explain(e.message).is_some());
        }
        assert!(
            explain("Cannot assign requested address (os error 99)")
                .is_some_and(|t| t.contains("connect()") && t.contains("not \"address"))
        );
        assert!(explain("eaddrinuse").is_some_and(|t| t.contains("bind()")));
    }

    #[test]
    fn the_diagram_marks_the_state_path() {
        let d = diagram(TcpState::TimeWait);
        let marked: Vec<&str> = d.lines().filter(|l| l.starts_with('>')).collect();
        assert!(
            marked.iter().any(|l| l.contains("[TIME_WAIT]   (60 s")),
            "{d}"
        );
        assert!(marked.iter().all(|l| l.contains("TIME_WAIT")));
        let d = diagram(TcpState::CloseWait);
        assert!(
            d.lines()
                .any(|l| l.starts_with('>') && l.contains("CLOSE_WAIT"))
        );
        assert!(
            !d.lines().any(|l| l.starts_with('>')
                && l.contains("TIME_WAIT")
                && !l.contains("CLOSE_WAIT"))
        );
    }
}
