//! CLOSE_WAIT per owning process: the peer closed, the process never did.

use super::fd_exhaustion::FD_WARN;
use crate::diagnose::services;
use crate::diagnose::{
    Category, Context, Evidence, Finding, Rule, RuleDoc, Severity, Threshold, Unit, tally,
};
use crate::model::Needs;
use crate::model::{Endpoint, Listeners, SocketRow, TcpState, human_age};
use std::collections::BTreeMap;

pub(super) static DOC: RuleDoc = RuleDoc {
    id: "close-wait-leak",
    category: Category::Connections,
    needs: Needs::OWNERS.and(Needs::CLOSE_WAIT_INFO),
    diagram: Some(TcpState::CloseWait),
    trigger: "CLOSE_WAIT sockets: the peer closed and this side has not called close(). \
        Grouped per process and per service: on a listening port, the service we serve (the \
        clients closed: the program missed EOF or error paths); on an ephemeral port, the \
        service we are a client of (the server closed idle connections a pool keeps). Recv-Q \
        tells what the program did since: 1 (the FIN, unread: it has not read since), 0 (it \
        read EOF and still did not close), more (data it never read). Connections with no \
        process on a listening port were abandoned in its accept queue: they belong to the \
        listener, which is not accepting.",
    levels: "nothing under --close-wait-info sockets younger than --close-wait-age; info \
        below --close-wait-count; warning at --close-wait-count sockets or an oldest age of \
        --close-wait-age; critical at --close-wait-count-crit, an age of --close-wait-age-crit, \
        or when the process's fds reach --fd-warn of RLIMIT_NOFILE",
    thresholds: &[
        &CLOSE_WAIT_INFO,
        &CLOSE_WAIT_COUNT,
        &CLOSE_WAIT_COUNT_CRIT,
        &CLOSE_WAIT_AGE,
        &CLOSE_WAIT_AGE_CRIT,
        &FD_WARN,
    ],
    remedy: "Server side: close the socket on the EOF (read() == 0) and error paths. Client \
        side: validate or evict idle pooled connections, keep the pool's idle timeout shorter \
        than the server's, or enable TCP keepalive on the pool. Abandoned in the accept queue: \
        make the listener accept (free its workers). No sysctl removes CLOSE_WAIT.",
};

pub(crate) static CLOSE_WAIT_INFO: Threshold = Threshold {
    flag: "close-wait-info",
    default: 10.0,
    unit: Unit::Count,
    help: "CLOSE_WAIT sockets of one process and service worth an info finding (fewer, and \
        younger than --close-wait-age, are normal churn).",
};

pub(crate) static CLOSE_WAIT_COUNT: Threshold = Threshold {
    flag: "close-wait-count",
    default: 100.0,
    unit: Unit::Count,
    help: "CLOSE_WAIT sockets one process holds for a warning.",
};

pub(crate) static CLOSE_WAIT_COUNT_CRIT: Threshold = Threshold {
    flag: "close-wait-count-crit",
    default: 1000.0,
    unit: Unit::Count,
    help: "CLOSE_WAIT sockets one process holds for critical.",
};

static CLOSE_WAIT_AGE: Threshold = Threshold {
    flag: "close-wait-age",
    default: 60.0,
    unit: Unit::Seconds,
    help: "Seconds since the peer's FIN, for a process's oldest CLOSE_WAIT, for a warning.",
};

static CLOSE_WAIT_AGE_CRIT: Threshold = Threshold {
    flag: "close-wait-age-crit",
    default: 3600.0,
    unit: Unit::Seconds,
    help: "Seconds since the peer's FIN, for a process's oldest CLOSE_WAIT, for critical.",
};

pub(super) struct CloseWaitLeak;

/// Who holds a group of CLOSE_WAIT sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Holder {
    /// A process holds them (its first fd owner).
    Process(u32),
    /// No fd: still in the accept queue of a listener on this port.
    Queued,
    /// No fd and no listener: hidden from this user, or gone.
    Unknown,
}

/// Which service a CLOSE_WAIT socket belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Service {
    /// Our listening port: the clients closed.
    Serving(u16),
    /// The remote ip:port we are a client of: the server closed.
    ClientOf(Endpoint),
}

/// What Recv-Q says about a group: the peer's FIN counts as one byte until
/// the program reads the end of stream (tests/it/kernel_close_wait.rs proves
/// it on the kernel).
#[derive(Default)]
struct Reads {
    /// Recv-Q 1: not read since the FIN.
    unread_fin: u64,
    /// Recv-Q 0: read EOF and still not closed.
    read_eof: u64,
    /// Recv-Q above 1: data never read, and the FIN after it.
    unread_data: u64,
    unread_bytes: u64,
}

impl Reads {
    fn of(rows: &[&SocketRow]) -> Reads {
        let mut r = Reads::default();
        for row in rows {
            match row.socket.recv_q {
                0 => r.read_eof += 1,
                1 => r.unread_fin += 1,
                q => {
                    r.unread_data += 1;
                    r.unread_bytes += u64::from(q - 1);
                }
            }
        }
        r
    }

    /// One sentence on what the program did since the peer closed.
    fn said(&self, n: u64) -> String {
        let mut parts = Vec::new();
        if self.unread_fin > 0 {
            parts.push(format!(
                "{} of {n} have Recv-Q 1: the program has not read from them since the peer's \
                 FIN (idle connections it keeps, or a reader stuck elsewhere)",
                self.unread_fin
            ));
        }
        if self.read_eof > 0 {
            parts.push(format!(
                "{} have Recv-Q 0: the program read the end of stream (read() returned 0) and \
                 still did not close",
                self.read_eof
            ));
        }
        if self.unread_data > 0 {
            parts.push(format!(
                "{} hold {} byte(s) of data the program never read, before the FIN",
                self.unread_data, self.unread_bytes
            ));
        }
        parts.join("; ")
    }
}

/// The processes that hold a listener accepting on `local`.
fn listener_pids(cx: &Context, listeners: &Listeners, local: &Endpoint) -> Vec<u32> {
    let mut pids: Vec<u32> = listeners
        .inodes_for(local)
        .flat_map(|ino| cx.owners.holders(ino).iter().map(|o| o.pid))
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

impl Rule for CloseWaitLeak {
    fn doc(&self) -> &'static RuleDoc {
        &DOC
    }

    fn check(&self, cx: &Context) -> Vec<Finding> {
        // Built once: a per-socket scan of the listeners would make this
        // rule quadratic on a host with many CLOSE_WAIT.
        let listeners = Listeners::of(cx.rows_in(TcpState::Listen).map(|r| r.socket));
        let mut groups: BTreeMap<(Holder, Service), Vec<&SocketRow>> = BTreeMap::new();
        for r in cx.rows_in(TcpState::CloseWait) {
            let serving = listeners.cover(&r.socket.local);
            let holder = match r.owners.first() {
                Some(o) => Holder::Process(o.pid),
                None if serving => Holder::Queued,
                None => Holder::Unknown,
            };
            let service = if serving {
                Service::Serving(r.socket.local.port)
            } else {
                Service::ClientOf(r.socket.remote)
            };
            groups.entry((holder, service)).or_default().push(r);
        }
        let mut out = Vec::new();
        for ((holder, service), rows) in groups {
            if let Some(f) = finding(cx, &listeners, holder, service, &rows) {
                out.push(f);
            }
        }
        out
    }
}

fn finding(
    cx: &Context,
    listeners: &Listeners,
    holder: Holder,
    service: Service,
    rows: &[&SocketRow],
) -> Option<Finding> {
    let th = cx.thresholds;
    let n = rows.len() as u64;
    let oldest = rows
        .iter()
        .filter_map(|r| r.age_s)
        .fold(None, |m: Option<f64>, a| Some(m.map_or(a, |m| m.max(a))));
    let reads = Reads::of(rows);
    let pid = match holder {
        Holder::Process(p) => Some(p),
        _ => None,
    };
    let proc_ = pid.and_then(|p| cx.process(p));
    let fd_ratio = proc_.and_then(|p| Some(f64::from(p.fds_open()?) / p.nofile_soft? as f64));
    let age_ok = |limit: f64| oldest.is_some_and(|a| a >= limit);
    let severity = if n >= th.count(&CLOSE_WAIT_COUNT_CRIT)
        || age_ok(th.get(&CLOSE_WAIT_AGE_CRIT))
        || fd_ratio.is_some_and(|r| r >= th.get(&FD_WARN))
    {
        Severity::Critical
    } else if n >= th.count(&CLOSE_WAIT_COUNT) || age_ok(th.get(&CLOSE_WAIT_AGE)) {
        Severity::Warning
    } else if n >= th.count(&CLOSE_WAIT_INFO) {
        Severity::Info
    } else {
        // A few young ones: the normal moments between a peer's close and
        // this side's.
        return None;
    };
    let fds: Vec<String> = rows
        .iter()
        .filter_map(|r| r.owners.first())
        .take(5)
        .map(|o| o.fd.to_string())
        .collect();
    let peers = tally(rows.iter().map(|r| r.socket.remote.ip.to_string()));
    let peer_text: Vec<String> = peers
        .iter()
        .take(3)
        .map(|(ip, c)| format!("{ip} ({c})"))
        .collect();
    let (service_text, side) = match service {
        Service::Serving(port) => (format!("port {port}"), "server"),
        Service::ClientOf(ep) => (ep.to_string(), "client"),
    };
    let age_text = oldest.map_or("unknown age".to_string(), |a| {
        format!("oldest {}", human_age(a))
    });
    let listener = match service {
        // Every socket of a serving group is on a listener of this port.
        Service::Serving(_) => rows
            .first()
            .map(|r| listener_pids(cx, listeners, &r.socket.local))
            .unwrap_or_default(),
        Service::ClientOf(_) => Vec::new(),
    };
    let who = match holder {
        Holder::Process(p) => cx.name_of(p),
        Holder::Queued => match listener.first() {
            Some(p) => format!(
                "the listener on port {} ({})",
                service_port(service),
                cx.name_of(*p)
            ),
            None => format!("the listener on port {}", service_port(service)),
        },
        Holder::Unknown => "no process found (hidden from this user: run as root)".to_string(),
    };
    let title = match (holder, service) {
        (Holder::Queued, _) => format!(
            "{n} connection(s) abandoned in the accept queue of port {}: their clients gave up, \
             {who} is not accepting ({age_text})",
            service_port(service)
        ),
        (_, Service::Serving(port)) => format!(
            "{who} holds {n} CLOSE_WAIT on its port {port}: the clients closed, it did not \
             ({age_text})"
        ),
        (_, Service::ClientOf(ep)) => format!(
            "{who} holds {n} CLOSE_WAIT toward {ep}: that server closed them, {} did not \
             ({age_text})",
            if pid.is_some() {
                "the client"
            } else {
                "this host"
            }
        ),
    };
    let mut ev = Evidence::default()
        .with("close_wait", n)
        .with("side", side)
        .with("service", service_text.clone())
        .with("oldest_age_s", oldest.map(|a| (a * 10.0).round() / 10.0))
        .with("recv_q_1_unread_fin", reads.unread_fin)
        .with("recv_q_0_read_eof", reads.read_eof)
        .with("unread_data_bytes", reads.unread_bytes)
        .with("peers", peer_text.join(", "));
    if let Some(p) = proc_ {
        ev = ev
            .with("pid", p.pid)
            .with("fds_open", p.fds_open())
            .with("nofile_soft", p.nofile_soft)
            .with("example_fds", fds.join(" "));
    }
    if !listener.is_empty() && holder == Holder::Queued {
        ev = ev.with(
            "listener_pids",
            listener
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    let fd_line = proc_.map_or(String::new(), |p| match (p.nofile_soft, p.fds_open()) {
        (_, None) => " Each holds a file descriptor.".to_string(),
        (Some(l), Some(open)) => format!(
            " Each holds a file descriptor: the process has {open} open of its limit {l}; at \
             the limit accept() and open() fail with EMFILE \"Too many open files\"."
        ),
        (None, Some(open)) => format!(" Each holds a file descriptor ({open} open)."),
    });
    let young = match oldest {
        Some(a) if a < th.get(&CLOSE_WAIT_AGE) => format!(
            " All are younger than {}: if they clear within seconds, this is a slow handler \
             (the peer timed out while the program was busy) rather than a leak; look at its \
             latency.",
            human_age(th.get(&CLOSE_WAIT_AGE))
        ),
        _ => String::new(),
    };
    let explanation = format!(
        "CLOSE_WAIT means the peer sent its FIN ({}) and this side has not closed yet; only \
         the owning process can end it, by calling close(), and no kernel setting does. {}.{}{}",
        oldest.map_or("at an unknown time".into(), |a| format!(
            "the oldest up to {} ago",
            human_age(a)
        )),
        reads.said(n),
        fd_line,
        young
    );
    let remedy = match (holder, service) {
        (Holder::Queued, _) => format!(
            "{who} is not calling accept() fast enough: it is blocked, has too few workers, or \
             its backlog is larger than it drains. Look at its accept loop and worker pool \
             (tcpdoctor sockets --state listen --sport {port}); these connections end when it \
             accepts and closes them, or when it restarts.",
            port = service_port(service)
        ),
        (Holder::Unknown, _) => "Their process is hidden from this user: run tcpdoctor as root \
             to see who holds them."
            .to_string(),
        // All young: clients that timed out while a slow program worked
        // look the same as a fresh leak; first ask whether they clear.
        (Holder::Process(p), Service::Serving(port)) if !young.is_empty() => format!(
            "First see whether they clear within seconds (tcpdoctor sockets --state close-wait \
             --sport {port}, again a few seconds later): if they do, {who} is slow, not leaking: \
             its clients time out and close while it still works on their requests, so look at \
             its request latency and worker count, not at close(). If they stay and age, its \
             EOF path misses close(): watch it with strace -f -p {p} -e \
             trace=read,recvfrom,close."
        ),
        (Holder::Process(p), Service::Serving(port)) => {
            let what = if reads.read_eof >= reads.unread_fin {
                "it reads the end of stream (read()/recv() returns 0) and then does not close: \
                 add close() to that path and to every error path"
            } else {
                "it has not even read since the clients closed: find where it stops reading \
                 these connections (a handler blocked elsewhere, connections it forgot) and \
                 close them when a read returns 0 or fails"
            };
            format!(
                "In {who} (serving port {port}): {what}. Look at the fds: ls -l \
                 /proc/{p}/fd/{{{}}}; watch it: strace -f -p {p} -e trace=read,recvfrom,close. \
                 Restarting frees them until the bug runs again. Lowering tcp_fin_timeout \
                 does nothing here.",
                fds.join(",")
            )
        }
        (Holder::Process(_), Service::ClientOf(ep)) => {
            format!(
                "{who} keeps connections to {ep} that the server closed (typically its idle \
                 timeout) and has not used them since: validate or evict idle connections in \
                 its pool, make the pool's idle timeout shorter than the server's, or enable TCP \
                 keepalive on it. For {}. They end when the client reuses (and then closes) or \
                 evicts them; lowering tcp_fin_timeout does nothing here.",
                services::reuse_advice(ep.port, None)
            )
        }
    };
    let subject = match service {
        Service::Serving(port) => format!("{who} :{port}"),
        Service::ClientOf(ep) => format!("{who} -> {ep}"),
    };
    Some(
        Finding::new(DOC.id, severity, subject, title)
            .evidence(ev)
            .explain(explanation)
            .remedy(remedy),
    )
}

/// The port of a service.
fn service_port(s: Service) -> u16 {
    match s {
        Service::Serving(p) => p,
        Service::ClientOf(ep) => ep.port,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::{Host, close_wait, process, severities, tcp};

    /// A server (pid 100, java) on port 8080 holding `n` CLOSE_WAIT from
    /// its clients, the oldest `age_s` old.
    fn holding(n: u32, age_s: f64) -> Host {
        Host::new()
            .process(process(100, "java", n + 10, 100_000))
            .owned(tcp(TcpState::Listen, "0.0.0.0:8080", "0.0.0.0:0"), 100)
            .many(
                n,
                &close_wait("10.0.0.1:8080", "10.0.0.2:40000", age_s),
                Some(100),
            )
    }

    #[test]
    fn count_edges_for_each_severity() {
        let sev = |n| severities(&holding(n, 1.0).findings(&CloseWaitLeak));
        assert!(sev(9).is_empty(), "a few young ones are normal churn");
        assert_eq!(sev(10), [Severity::Info]);
        assert_eq!(sev(99), [Severity::Info]);
        assert_eq!(sev(100), [Severity::Warning]);
        assert_eq!(sev(999), [Severity::Warning]);
        assert_eq!(sev(1000), [Severity::Critical]);
    }

    #[test]
    fn age_edges_for_each_severity() {
        let sev = |age| severities(&holding(1, age).findings(&CloseWaitLeak));
        assert!(sev(59.9).is_empty());
        assert_eq!(sev(60.0), [Severity::Warning]);
        assert_eq!(sev(3599.0), [Severity::Warning]);
        assert_eq!(sev(3600.0), [Severity::Critical]);
    }

    #[test]
    fn a_process_near_its_fd_limit_is_critical() {
        let near = |fds| {
            Host::new()
                .process(process(100, "java", fds, 100))
                .many(
                    1,
                    &close_wait("10.0.0.1:8080", "10.0.0.2:40000", 1.0),
                    Some(100),
                )
                .findings(&CloseWaitLeak)
        };
        assert!(near(79).is_empty());
        assert_eq!(severities(&near(80)), [Severity::Critical]);
    }

    #[test]
    fn thresholds_come_from_the_flags() {
        let f = holding(10, 1.0)
            .threshold("close-wait-count", 10.0)
            .findings(&CloseWaitLeak);
        assert_eq!(severities(&f), [Severity::Warning]);
        let f = holding(10, 1.0)
            .threshold("close-wait-count-crit", 10.0)
            .findings(&CloseWaitLeak);
        assert_eq!(severities(&f), [Severity::Critical]);
        let f = holding(3, 1.0)
            .threshold("close-wait-info", 3.0)
            .findings(&CloseWaitLeak);
        assert_eq!(severities(&f), [Severity::Info]);
    }

    #[test]
    fn the_server_side_names_its_port_and_what_recv_q_says() {
        let unread = holding(120, 90.0).findings(&CloseWaitLeak);
        assert_eq!(unread.len(), 1);
        let f = &unread[0];
        assert!(
            f.title.contains("pid 100 (java)") && f.title.contains("port 8080"),
            "{}",
            f.title
        );
        assert_eq!(f.evidence.get("side"), Some(&"server".into()));
        assert_eq!(f.evidence.get("recv_q_1_unread_fin"), Some(&0.into()));
        // The helper's sockets have Recv-Q 0: read EOF, not closed.
        assert!(
            f.explanation.contains("read the end of stream"),
            "{}",
            f.explanation
        );
        assert!(f.remedy.contains("add close()"), "{}", f.remedy);
        let mut s = close_wait("10.0.0.1:8080", "10.0.0.2:40000", 90.0);
        s.recv_q = 1;
        let f = Host::new()
            .owned(tcp(TcpState::Listen, "0.0.0.0:8080", "0.0.0.0:0"), 100)
            .many(120, &s, Some(100))
            .findings(&CloseWaitLeak);
        assert_eq!(f[0].evidence.get("recv_q_1_unread_fin"), Some(&120.into()));
        assert!(
            f[0].explanation.contains("has not read from them"),
            "{}",
            f[0].explanation
        );
        assert!(f[0].remedy.contains("has not even read"), "{}", f[0].remedy);
    }

    #[test]
    fn young_ones_point_at_latency_before_close() {
        let f = holding(20, 3.0).findings(&CloseWaitLeak);
        assert_eq!(severities(&f), [Severity::Info]);
        assert!(
            f[0].explanation.contains("slow handler"),
            "{}",
            f[0].explanation
        );
        assert!(f[0].remedy.contains("latency"), "{}", f[0].remedy);
        let old = holding(20, 300.0).findings(&CloseWaitLeak);
        assert!(!old[0].remedy.contains("latency"), "{}", old[0].remedy);
    }

    #[test]
    fn the_client_side_names_the_service_it_uses_and_pool_remedies() {
        let pooled = |i: u32| {
            let mut s = close_wait("10.0.0.1:1", "10.0.0.9:5432", 300.0);
            s.local.port = 40000 + i as u16;
            s.recv_q = 1;
            s
        };
        let mut h = Host::new().process(process(200, "python3", 50, 1024));
        for i in 0..20 {
            h = h.owned(pooled(i), 200);
        }
        let f = h.findings(&CloseWaitLeak);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].title.contains("toward 10.0.0.9:5432"),
            "{}",
            f[0].title
        );
        assert_eq!(f[0].evidence.get("side"), Some(&"client".into()));
        for words in ["idle timeout", "keepalive", "PostgreSQL", "PgBouncer"] {
            assert!(f[0].remedy.contains(words), "{words}: {}", f[0].remedy);
        }
    }

    #[test]
    fn unowned_close_wait_on_a_listening_port_belongs_to_the_listener() {
        let mut h = Host::new()
            .process(process(300, "gunicorn", 12, 1024))
            .owned(tcp(TcpState::Listen, "0.0.0.0:8000", "0.0.0.0:0"), 300);
        for i in 0..40u16 {
            let mut s = close_wait("10.0.0.1:8000", "10.0.0.3:1", 120.0);
            s.remote.port = 50000 + i;
            h = h.socket(s);
        }
        let f = h.findings(&CloseWaitLeak);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].title
                .contains("abandoned in the accept queue of port 8000"),
            "{}",
            f[0].title
        );
        assert!(f[0].title.contains("pid 300 (gunicorn)"), "{}", f[0].title);
        assert!(f[0].remedy.contains("accept()"), "{}", f[0].remedy);
        assert_eq!(f[0].severity, Severity::Warning);
    }
}
