//! CLOSE_WAIT that keeps growing while the host is observed: a leak found
//! by its rate, before its count is large.

use crate::diagnose::{
    Category, Context, Evidence, Finding, Rule, RuleDoc, Severity, Threshold, Unit,
};
use crate::model::{Needs, TcpState, human_age};

pub(super) static DOC: RuleDoc = RuleDoc {
    id: "close-wait-growing",
    category: Category::Connections,
    needs: Needs::OWNERS.and(Needs::CLOSE_WAIT_INFO),
    diagram: Some(TcpState::CloseWait),
    trigger: "While the host is observed over time (`diagnose --for`, `watch`, the exporter's \
        refreshes), a process whose CLOSE_WAIT sockets grow: the sockets new minus the sockets \
        gone, by socket cookie, over the measured window. A process that closes late but \
        closes (a slow handler) shows sockets gone as well and does not grow; a leak grows at \
        the rate its peers close. Reported however few it holds yet, with the time until its \
        fds reach RLIMIT_NOFILE at that rate.",
    levels: "nothing before --growth-window of observation; warning from \
        --close-wait-growth per minute; critical when the fds would reach RLIMIT_NOFILE \
        within --fd-limit-time",
    thresholds: &[&CLOSE_WAIT_GROWTH, &GROWTH_WINDOW, &FD_LIMIT_TIME],
    remedy: "The same as close-wait-leak: close the socket on EOF and error paths (server), or \
        evict idle pooled connections the server closed (client). Until it is fixed, a \
        restart only buys the time shown.",
};

static CLOSE_WAIT_GROWTH: Threshold = Threshold {
    flag: "close-wait-growth",
    default: 6.0,
    unit: Unit::Count,
    help: "Net CLOSE_WAIT growth of one process, per minute, for a warning.",
};

static GROWTH_WINDOW: Threshold = Threshold {
    flag: "growth-window",
    default: 5.0,
    unit: Unit::Seconds,
    help: "Seconds of observation before growth is judged.",
};

static FD_LIMIT_TIME: Threshold = Threshold {
    flag: "fd-limit-time",
    default: 3600.0,
    unit: Unit::Seconds,
    help: "Seconds until a growing process reaches RLIMIT_NOFILE, for critical.",
};

pub(super) struct CloseWaitGrowing;

impl Rule for CloseWaitGrowing {
    fn doc(&self) -> &'static RuleDoc {
        &DOC
    }

    fn check(&self, cx: &Context) -> Vec<Finding> {
        // Processes are host-wide: judged once, with the first namespace.
        let Some(t) = cx.trends.filter(|_| cx.host_wide) else {
            return Vec::new();
        };
        let th = cx.thresholds;
        if t.window_s < th.get(&GROWTH_WINDOW) {
            return Vec::new();
        }
        t.processes
            .iter()
            .filter_map(|p| {
                let per_min = p.close_wait_growth_per_min?;
                if per_min < th.get(&CLOSE_WAIT_GROWTH) {
                    return None;
                }
                // At this rate, new fds arrive with the new sockets: the fd
                // trend when known, else the CLOSE_WAIT growth itself.
                let fd_per_s = p.fd_growth_per_min.unwrap_or(per_min).max(per_min) / 60.0;
                let to_limit = match (p.fds, p.nofile) {
                    (Some(f), Some(n)) if fd_per_s > 0.0 => {
                        Some(((n as f64 - f64::from(f)) / fd_per_s).max(0.0))
                    }
                    _ => p.time_to_fd_limit_s,
                };
                let severity = if to_limit.is_some_and(|s| s < th.get(&FD_LIMIT_TIME)) {
                    Severity::Critical
                } else {
                    Severity::Warning
                };
                let who = if p.comm.is_empty() {
                    format!("pid {}", p.pid)
                } else {
                    format!("pid {} ({})", p.pid, p.comm)
                };
                let limit_said = match (to_limit, p.nofile) {
                    (Some(s), Some(n)) => {
                        format!(
                            "; its fds reach RLIMIT_NOFILE ({n}) in about {}",
                            human_age(s)
                        )
                    }
                    _ => String::new(),
                };
                Some(
                    Finding::new(
                        DOC.id,
                        severity,
                        who.clone(),
                        format!(
                            "{who}: CLOSE_WAIT growing by {per_min:.1}/min over the last {:.0} s \
                             (now {}){limit_said}",
                            t.window_s, p.close_wait
                        ),
                    )
                    .evidence(
                        Evidence::default()
                            .with("growth_per_min", (per_min * 10.0).round() / 10.0)
                            .with("window_s", (t.window_s * 10.0).round() / 10.0)
                            .with("close_wait", p.close_wait)
                            .with("new_last_interval", p.close_wait_new)
                            .with("gone_last_interval", p.close_wait_gone)
                            .with("fds", p.fds)
                            .with("nofile", p.nofile)
                            .with("time_to_fd_limit_s", to_limit.map(|s| s.round())),
                    )
                    .explain(format!(
                        "Over the last {:.0} s (measured), {who} gained CLOSE_WAIT sockets \
                         faster than it closed them: each is a connection its peer closed and \
                         it never did. Counted by socket cookie, so a busy process that closes \
                         late but closes shows no growth. Each one holds a file descriptor \
                         until the process closes it or exits.",
                        t.window_s
                    ))
                    .remedy(format!(
                        "{} See which sockets: `tcpdoctor sockets --pid {} -s close-wait`.",
                        DOC.remedy, p.pid
                    )),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::{Host, severities};
    use crate::model::{ProcessRow, Trends};

    fn growing(per_min: f64, window_s: f64, fds: u32, nofile: u64) -> Host {
        let mut h = Host::new();
        h.trends = Some(Trends {
            window_s,
            processes: vec![ProcessRow {
                pid: 7,
                comm: "app".into(),
                close_wait: 12,
                close_wait_growth_per_min: Some(per_min),
                fds: Some(fds),
                nofile: Some(nofile),
                ..ProcessRow::default()
            }],
            ..Trends::default()
        });
        h
    }

    #[test]
    fn growth_edges_window_and_time_to_the_fd_limit() {
        let sev = |h: Host| severities(&h.findings(&CloseWaitGrowing));
        assert!(sev(growing(5.9, 60.0, 100, 1_000_000)).is_empty());
        assert_eq!(sev(growing(6.0, 60.0, 100, 1_000_000)), [Severity::Warning]);
        assert!(
            sev(growing(600.0, 4.9, 100, 1024)).is_empty(),
            "too short a look"
        );
        // 924 fds left at 10/s: 92 s, under an hour.
        let f = growing(600.0, 30.0, 100, 1024).findings(&CloseWaitGrowing);
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(
            f[0].evidence.get("time_to_fd_limit_s"),
            Some(&serde_json::json!(92.0))
        );
        assert!(
            f[0].title.contains("growing by 600.0/min"),
            "{}",
            f[0].title
        );
        assert!(
            Host::new().findings(&CloseWaitGrowing).is_empty(),
            "no trends, no finding"
        );
    }
}
