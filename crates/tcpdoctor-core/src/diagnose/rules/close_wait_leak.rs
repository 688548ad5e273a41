//! CLOSE_WAIT per owning process: the peer closed, the process never did.

use super::fd_exhaustion::FD_WARN;
use crate::diagnose::{
    Category, Context, Evidence, Finding, Rule, RuleDoc, Severity, Threshold, Unit, tally,
};
use crate::model::Needs;
use crate::model::{SocketRow, TcpState, human_age};
use std::collections::BTreeMap;

pub static DOC: RuleDoc = RuleDoc {
    id: "close-wait-leak",
    category: Category::Connections,
    needs: Needs::OWNERS.and(Needs::CLOSE_WAIT_INFO),
    diagram: Some(TcpState::CloseWait),
    trigger: "A process holds CLOSE_WAIT sockets: the peer closed and the process has not called \
        close(). Grouped per owning process, with count, oldest age (from tcp_info \
        last_ack_recv), unread bytes and peers.",
    levels: "warning at --close-wait-count sockets or an oldest age of --close-wait-age; critical \
        at --close-wait-count-crit, an age of --close-wait-age-crit, or when the process's fds \
        reach --fd-warn of RLIMIT_NOFILE; info below",
    thresholds: &[
        &CLOSE_WAIT_COUNT,
        &CLOSE_WAIT_COUNT_CRIT,
        &CLOSE_WAIT_AGE,
        &CLOSE_WAIT_AGE_CRIT,
        &FD_WARN,
    ],
    remedy: "Fix the code path that reads EOF (read() == 0) or fails, so it closes the socket; \
        check pools that never evict dead connections. No sysctl removes CLOSE_WAIT.",
};

pub static CLOSE_WAIT_COUNT: Threshold = Threshold {
    flag: "close-wait-count",
    default: 100.0,
    unit: Unit::Count,
    help: "CLOSE_WAIT sockets one process holds for a warning.",
};

pub static CLOSE_WAIT_COUNT_CRIT: Threshold = Threshold {
    flag: "close-wait-count-crit",
    default: 1000.0,
    unit: Unit::Count,
    help: "CLOSE_WAIT sockets one process holds for critical.",
};

pub static CLOSE_WAIT_AGE: Threshold = Threshold {
    flag: "close-wait-age",
    default: 60.0,
    unit: Unit::Seconds,
    help: "Seconds since the peer's FIN, for a process's oldest CLOSE_WAIT, for a warning.",
};

pub static CLOSE_WAIT_AGE_CRIT: Threshold = Threshold {
    flag: "close-wait-age-crit",
    default: 3600.0,
    unit: Unit::Seconds,
    help: "Seconds since the peer's FIN, for a process's oldest CLOSE_WAIT, for critical.",
};

pub struct CloseWaitLeak;

impl Rule for CloseWaitLeak {
    fn doc(&self) -> &'static RuleDoc {
        &DOC
    }

    fn check(&self, cx: &Context) -> Vec<Finding> {
        let mut groups: BTreeMap<Option<u32>, Vec<&SocketRow>> = BTreeMap::new();
        for r in cx.rows_in(TcpState::CloseWait) {
            groups
                .entry(r.owners.first().map(|o| o.pid))
                .or_default()
                .push(r);
        }
        let mut out = Vec::new();
        for (pid, rows) in groups {
            let n = rows.len() as u64;
            let oldest = rows
                .iter()
                .filter_map(|r| r.age_s)
                .fold(None, |m: Option<f64>, a| Some(m.map_or(a, |m| m.max(a))));
            let unread: u64 = rows.iter().map(|r| u64::from(r.socket.recv_q)).sum();
            let peers = tally(rows.iter().map(|r| r.socket.remote.ip.to_string()));
            let peer_text: Vec<String> = peers
                .iter()
                .take(3)
                .map(|(ip, c)| format!("{ip} ({c})"))
                .collect();
            let fds: Vec<String> = rows
                .iter()
                .filter_map(|r| r.owners.first())
                .take(5)
                .map(|o| o.fd.to_string())
                .collect();
            let proc_ = pid.and_then(|p| cx.process(p));
            let fd_ratio = proc_.and_then(|p| Some(f64::from(p.fd_count) / p.nofile_soft? as f64));
            let age_ok = |limit: f64| oldest.is_some_and(|a| a >= limit);
            let severity = if n >= cx.thresholds.count(&CLOSE_WAIT_COUNT_CRIT)
                || age_ok(cx.thresholds.get(&CLOSE_WAIT_AGE_CRIT))
                || fd_ratio.is_some_and(|r| r >= cx.thresholds.get(&FD_WARN))
            {
                Severity::Critical
            } else if n >= cx.thresholds.count(&CLOSE_WAIT_COUNT)
                || age_ok(cx.thresholds.get(&CLOSE_WAIT_AGE))
            {
                Severity::Warning
            } else {
                Severity::Info
            };
            let who = match pid {
                Some(p) => cx.name_of(p),
                None => "no process found (still in an accept queue, or hidden from this user)"
                    .to_string(),
            };
            let age_text = oldest.map_or("unknown age".to_string(), |a| {
                format!("oldest {}", human_age(a))
            });
            let mut ev = Evidence::default()
                .with("close_wait", n)
                .with("oldest_age_s", oldest.map(|a| (a * 10.0).round() / 10.0))
                .with("unread_bytes", unread)
                .with("peers", peer_text.join(", "))
                .with("distinct_peers", peers.len() as u64);
            if let Some(p) = proc_ {
                ev = ev
                    .with("pid", p.pid)
                    .with("fds_open", p.fds_open())
                    .with("nofile_soft", p.nofile_soft)
                    .with("example_fds", fds.join(" "));
            }
            let title = format!("{who} holds {n} CLOSE_WAIT socket(s), {age_text}");
            let fd_line = proc_.map_or(String::new(), |p| match (p.nofile_soft, p.fds_open()) {
                (_, None) => " Each holds a file descriptor.".to_string(),
                (Some(l), Some(_)) => format!(
                    " Each holds a file descriptor: the process has {} open of its \
                    limit {l}; at the limit accept() and open() fail with EMFILE \"Too many open \
                    files\".",
                    p.fd_count
                ),
                (None, Some(n)) => format!(" Each holds a file descriptor ({n} open)."),
            });
            let explanation = format!(
                "CLOSE_WAIT means the peer sent its FIN (it closed; its FIN arrived {}) and this \
                    side has not closed yet. Only the owning process can end it, by calling \
                    close(); no kernel setting does. {} unread byte(s) wait in these \
                    sockets{}.{fd_line}",
                oldest.map_or("at an unknown time".into(), |a| format!(
                    "up to {} ago",
                    human_age(a)
                )),
                unread,
                if unread > 0 {
                    ": the process stopped reading before EOF"
                } else {
                    ": the process read to EOF and stopped there"
                },
            );
            let remedy = match proc_ {
                Some(p) => format!(
                    "In {} ({}): find the code path that sees EOF (read()/recv() returns 0, or an \
                        error or timeout) and make it close the socket, including on error paths \
                        and in connection pools that keep dead connections. Look at the fds: ls \
                        -l /proc/{}/fd/{{{}}}; watch it: strace -f -p {} -e \
                        trace=read,recvfrom,close. Restarting the process frees them until the \
                        bug runs again. Lowering tcp_fin_timeout does nothing here.",
                    who,
                    if p.cmdline.is_empty() {
                        &p.comm
                    } else {
                        &p.cmdline
                    },
                    p.pid,
                    fds.join(","),
                    p.pid
                ),
                None => "These sockets have no process: either they are still in a listener's \
                    accept queue (the application accepts too slowly: see accept-queue-overflow) \
                    or their process is hidden from this user (run as root)."
                    .to_string(),
            };
            out.push(
                Finding::new(DOC.id, severity, who.clone(), title)
                    .evidence(ev)
                    .explain(explanation)
                    .remedy(remedy),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::{Host, close_wait, process, severities};

    fn holding(n: u32, age_s: f64) -> Host {
        Host::new()
            .process(process(100, "java", n + 10, 100_000))
            .many(
                n,
                &close_wait("10.0.0.1:8080", "10.0.0.2:40000", age_s),
                Some(100),
            )
    }

    #[test]
    fn count_edges_for_each_severity() {
        let sev = |n| severities(&holding(n, 1.0).findings(&CloseWaitLeak));
        assert_eq!(sev(99), [Severity::Info]);
        assert_eq!(sev(100), [Severity::Warning]);
        assert_eq!(sev(999), [Severity::Warning]);
        assert_eq!(sev(1000), [Severity::Critical]);
        assert!(sev(0).is_empty());
    }

    #[test]
    fn age_edges_for_each_severity() {
        let sev = |age| severities(&holding(1, age).findings(&CloseWaitLeak));
        assert_eq!(sev(59.9), [Severity::Info]);
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
        assert_eq!(severities(&near(79)), [Severity::Info]);
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
    }

    #[test]
    fn names_the_process_and_groups_sockets_without_one() {
        let f = holding(3, 1.0)
            .socket(close_wait("10.0.0.1:8080", "10.0.0.3:40000", 1.0))
            .findings(&CloseWaitLeak);
        assert_eq!(f.len(), 2);
        assert!(f.iter().any(|f| f.subject == "pid 100 (java)"), "{f:#?}");
        assert!(f.iter().any(|f| f.subject.starts_with("no process found")));
        let held = f
            .iter()
            .find(|f| f.subject == "pid 100 (java)")
            .expect("found");
        assert_eq!(held.evidence.get("close_wait"), Some(&3.into()));
    }
}
