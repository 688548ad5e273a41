//! A process's open fds against RLIMIT_NOFILE; the host's file handles
//! against fs.file-max: the "Too many open files" risk.

use crate::diagnose::{
    Category, Context, Evidence, Finding, Rule, RuleDoc, Severity, Threshold, Unit,
};
use crate::model::{Needs, TcpState};
use std::collections::BTreeMap;

pub(super) static DOC: RuleDoc = RuleDoc {
    id: "fd-exhaustion",
    category: Category::Limits,
    needs: Needs::OWNERS.and(Needs::HOST),
    diagram: None,
    trigger: "A process holding TCP sockets has most of its RLIMIT_NOFILE in use, or the host's \
        allocated file handles (fs.file-nr) approach fs.file-max. Says which socket states hold \
        the process's fds.",
    levels: "warning at --fd-warn of the soft limit (RLIMIT_NOFILE) or of fs.file-max, critical at \
        --fd-crit",
    thresholds: &[&FD_WARN, &FD_CRIT],
    remedy: "If the fds are CLOSE_WAIT sockets, fix the leak. Otherwise raise the limit \
        (LimitNOFILE= in the systemd unit, ulimit -n, limits.conf nofile) up to the hard limit.",
};

pub(super) static FD_WARN: Threshold = Threshold {
    flag: "fd-warn",
    default: 0.80,
    unit: Unit::Ratio,
    help: "Share of RLIMIT_NOFILE (or of fs.file-max) in use for a warning.",
};

static FD_CRIT: Threshold = Threshold {
    flag: "fd-crit",
    default: 0.95,
    unit: Unit::Ratio,
    help: "Share of RLIMIT_NOFILE (or of fs.file-max) in use for critical.",
};

pub(super) struct FdExhaustion;

fn severity(ratio: f64, cx: &Context) -> Option<Severity> {
    if ratio >= cx.thresholds.get(&FD_CRIT) {
        Some(Severity::Critical)
    } else if ratio >= cx.thresholds.get(&FD_WARN) {
        Some(Severity::Warning)
    } else {
        None
    }
}

impl Rule for FdExhaustion {
    fn doc(&self) -> &'static RuleDoc {
        &DOC
    }

    fn check(&self, cx: &Context) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut by_pid: BTreeMap<u32, BTreeMap<&'static str, u64>> = BTreeMap::new();
        for r in cx.rows {
            for o in r.owners {
                *by_pid
                    .entry(o.pid)
                    .or_default()
                    .entry(r.socket.state.netstat_name())
                    .or_insert(0) += 1;
            }
        }
        for (pid, states) in by_pid {
            let Some(p) = cx.process(pid) else { continue };
            let Some(soft) = p.nofile_soft.filter(|s| *s > 0) else {
                continue;
            };
            let ratio = f64::from(p.fd_count) / soft as f64;
            let Some(sev) = severity(ratio, cx) else {
                continue;
            };
            let who = cx.name_of(pid);
            let held: Vec<String> = states.iter().map(|(s, n)| format!("{s} {n}")).collect();
            let cw = states.get("CLOSE_WAIT").copied().unwrap_or(0);
            // Users being refused: connections waiting in the accept queue
            // of a listener this process holds (it cannot accept() them).
            let waiting: u64 = cx
                .rows_in(TcpState::Listen)
                .filter(|l| l.owners.iter().any(|o| o.pid == pid))
                .filter(|_| cx.listen_backlog_known)
                .map(|l| u64::from(l.socket.recv_q))
                .sum();
            let over = u64::from(p.fd_count) > soft;
            let explanation = format!(
                "Every socket, file and pipe takes a file descriptor. At RLIMIT_NOFILE ({soft}) \
                 accept(), connect() and open() fail with EMFILE \"Too many open files\". Of \
                 its TCP sockets: {}.{}{}",
                held.join(", "),
                if over {
                    format!(
                        " It has more fds ({}) than its limit: they were opened before the \
                         limit was lowered (by the program itself, or by prlimit).",
                        p.fd_count
                    )
                } else {
                    String::new()
                },
                if waiting > 0 {
                    format!(
                        " {waiting} connection(s) wait in the accept queue of its listener(s): \
                         those are the users being refused."
                    )
                } else {
                    String::new()
                }
            );
            let unit = p
                .cgroup
                .as_deref()
                .and_then(|c| c.rsplit('/').next())
                .filter(|u| u.ends_with(".service"));
            let where_ = match unit {
                Some(u) => format!(
                    "It runs in the systemd unit {u}: set LimitNOFILE= there (systemctl edit \
                     {u}, then restart it)"
                ),
                None => "Set it where the process starts: LimitNOFILE= in its systemd unit, \
                     ulimit -n in its start script or container runtime, or nofile in \
                     /etc/security/limits.conf for login sessions"
                    .to_string(),
            };
            // A child starts with its parent's limit: a different one was
            // set by the program itself; a shell's is its ulimit.
            let origin = match &p.parent {
                Some(parent) if parent.nofile_soft.is_some_and(|ps| ps != soft) => format!(
                    " Its parent, pid {} ({}), has a soft limit of {}: {} set its own limit \
                     ({}), so change it there.",
                    parent.pid,
                    parent.comm,
                    parent.nofile_soft.unwrap_or(0),
                    p.comm,
                    "nginx: worker_rlimit_nofile; a JVM or runtime option; a setrlimit() call"
                ),
                Some(parent)
                    if ["bash", "sh", "zsh", "dash", "fish"].contains(&parent.comm.as_str()) =>
                {
                    format!(
                        " It was started from a shell, pid {} ({}): its limit is that shell's \
                         `ulimit -n` (or the login's /etc/security/limits.conf).",
                        parent.pid, parent.comm
                    )
                }
                _ => String::new(),
            };
            let raise = match p.nofile_hard {
                Some(h) if h == soft => format!(
                    "The soft limit equals the hard limit ({h}): raising it needs the hard limit \
                     raised where it is set. {where_}; a program may also set its own (nginx \
                     worker_rlimit_nofile, a JVM or runtime option)."
                ),
                Some(h) => format!(
                    "The soft limit ({soft}) is below the hard limit ({h}): the program (or its \
                     start script) can raise it up to {h} itself; a parent with a higher limit \
                     means it lowered its own. {where_}."
                ),
                None => format!("{where_}."),
            };
            let remedy = if cw * 2 >= u64::from(p.fd_count) {
                format!(
                    "Most fds are CLOSE_WAIT sockets: that is a leak (see close-wait-leak); \
                     raising the limit only delays the failure. Fix {who}'s missing close()."
                )
            } else {
                format!(
                    "Find what holds the fds (ls -l /proc/{pid}/fd); if the load is real: \
                     {raise}{origin}"
                )
            };
            let trend = cx.trends.and_then(|t| t.process(pid));
            out.push(
                Finding::new(
                    DOC.id,
                    sev,
                    who.clone(),
                    format!(
                        "{who} has {} of {soft} file descriptors open ({:.0}%)",
                        p.fd_count,
                        ratio * 100.0
                    ),
                )
                .evidence(
                    Evidence::default()
                        .with("fds_open", p.fd_count)
                        .with("nofile_soft", soft)
                        .with("nofile_hard", p.nofile_hard)
                        .with("ratio", (ratio * 1000.0).round() / 1000.0)
                        .with("tcp_sockets_by_state", held.join(", "))
                        .with("waiting_in_accept_queue", waiting)
                        .with("cgroup", p.cgroup.clone())
                        // Observed over time (diagnose --for): how fast
                        // fds grow and when the limit is reached.
                        .with_some("fd_growth_per_min", trend.and_then(|t| t.fd_growth_per_min))
                        .with_some("time_to_limit_s", trend.and_then(|t| t.time_to_fd_limit_s)),
                )
                .explain(explanation)
                .remedy(remedy),
            );
        }
        if let Some(f) = cx.host.file_nr.filter(|f| f.max > 0) {
            let ratio = f.allocated as f64 / f.max as f64;
            if let Some(sev) = severity(ratio, cx) {
                out.push(
                    Finding::new(
                        DOC.id,
                        sev,
                        "fs.file-max".into(),
                        format!(
                            "the host has {} of fs.file-max \
                        {} file handles allocated ({:.0}%)",
                            f.allocated,
                            f.max,
                            ratio * 100.0
                        ),
                    )
                    .evidence(
                        Evidence::default()
                            .with("allocated", f.allocated)
                            .with("file_max", f.max)
                            .with("ratio", (ratio * 1000.0).round() / 1000.0),
                    )
                    .explain(
                        "At fs.file-max every process's open() and socket() fail with \
                            ENFILE \"Too many open files in system\"."
                            .into(),
                    )
                    .remedy(
                        "Find the processes with the most fds (tcpdoctor census --by \
                            process) and fix leaks; raise fs.file-max in /etc/sysctl.d/ if the \
                            load is real."
                            .into(),
                    ),
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::{Host, process, severities, tcp};
    use crate::model::{FileNr, TcpState};

    fn using(fds: u32) -> Vec<Finding> {
        Host::new()
            .process(process(7, "nginx", fds, 1000))
            .owned(
                tcp(TcpState::Established, "10.0.0.1:80", "10.0.0.2:5000"),
                7,
            )
            .findings(&FdExhaustion)
    }

    #[test]
    fn process_ratio_edges() {
        assert!(using(799).is_empty());
        assert_eq!(severities(&using(800)), [Severity::Warning]);
        assert_eq!(severities(&using(949)), [Severity::Warning]);
        assert_eq!(severities(&using(950)), [Severity::Critical]);
    }

    #[test]
    fn host_file_max_edges() {
        let host = |allocated| {
            Host::new()
                .file_nr(FileNr {
                    allocated,
                    free: 0,
                    max: 100,
                })
                .findings(&FdExhaustion)
        };
        assert!(host(79).is_empty());
        assert_eq!(severities(&host(80)), [Severity::Warning]);
        assert_eq!(severities(&host(95)), [Severity::Critical]);
        assert_eq!(host(95)[0].subject, "fs.file-max");
    }

    #[test]
    fn the_remedy_says_who_set_the_limit_and_who_is_refused() {
        let mut p = process(7, "nginx", 129, 128);
        p.nofile_hard = Some(128);
        p.cgroup = Some("/system.slice/nginx.service".into());
        let mut listener = tcp(TcpState::Listen, "0.0.0.0:80", "0.0.0.0:0");
        listener.recv_q = 12;
        listener.send_q = 511;
        let f = Host::new()
            .process(p)
            .owned(listener, 7)
            .owned(
                tcp(TcpState::Established, "10.0.0.1:80", "10.0.0.2:5000"),
                7,
            )
            .findings(&FdExhaustion);
        assert_eq!(severities(&f), [Severity::Critical]);
        for words in [
            "soft limit equals the hard limit",
            "nginx.service",
            "LimitNOFILE",
        ] {
            assert!(f[0].remedy.contains(words), "{words}: {}", f[0].remedy);
        }
        assert!(
            f[0].explanation.contains("before the limit was lowered"),
            "{}",
            f[0].explanation
        );
        assert!(
            f[0].explanation.contains("12 connection(s) wait"),
            "{}",
            f[0].explanation
        );
    }

    #[test]
    fn a_limit_the_program_set_itself_is_traced_to_it() {
        let mut p = process(7, "java", 990, 1024);
        p.parent = Some(crate::model::Parent {
            pid: 6,
            comm: "supervisord".into(),
            nofile_soft: Some(65536),
        });
        let f = Host::new()
            .process(p)
            .owned(
                tcp(TcpState::Established, "10.0.0.1:80", "10.0.0.2:5000"),
                7,
            )
            .findings(&FdExhaustion);
        assert!(
            f[0].remedy.contains("java set its own limit"),
            "{}",
            f[0].remedy
        );
        let mut p = process(7, "app", 990, 1024);
        p.parent = Some(crate::model::Parent {
            pid: 6,
            comm: "bash".into(),
            nofile_soft: Some(1024),
        });
        let f = Host::new()
            .process(p)
            .owned(
                tcp(TcpState::Established, "10.0.0.1:80", "10.0.0.2:5000"),
                7,
            )
            .findings(&FdExhaustion);
        assert!(f[0].remedy.contains("ulimit -n"), "{}", f[0].remedy);
    }

    #[test]
    fn a_process_without_sockets_or_limit_is_not_judged() {
        let f = Host::new()
            .process(process(7, "nginx", 999, 1000))
            .findings(&FdExhaustion);
        assert!(f.is_empty(), "no TCP socket: not ours to judge");
    }
}
