//! Orphaned sockets against tcp_max_orphans.

use crate::diagnose::{
    Category, Context, Evidence, Finding, Rule, RuleDoc, Severity, Threshold, Unit,
};
use crate::model::Needs;

pub(super) static DOC: RuleDoc = RuleDoc {
    id: "orphan-limit",
    category: Category::Limits,
    needs: Needs::COUNTER_RATES,
    diagram: None,
    trigger: "Orphaned sockets (closed by their process, still finishing: sockstat orphan) \
        approach net.ipv4.tcp_max_orphans, or TCPAbortOnMemory grew (orphans reset for lack of \
        memory).",
    levels: "warning at --orphan-warn of tcp_max_orphans or when TCPAbortOnMemory grows; critical \
        at --orphan-crit",
    thresholds: &[&ORPHAN_WARN, &ORPHAN_CRIT],
    remedy: "Find why closes do not finish (peers with zero windows, FIN_WAIT1/FIN_WAIT2/LAST_ACK \
        piles); each orphan may pin up to ~64 KB. Raising tcp_max_orphans needs the memory for \
        it.",
};

static ORPHAN_WARN: Threshold = Threshold {
    flag: "orphan-warn",
    default: 0.50,
    unit: Unit::Ratio,
    help: "Share of tcp_max_orphans in use for a warning.",
};

static ORPHAN_CRIT: Threshold = Threshold {
    flag: "orphan-crit",
    default: 0.80,
    unit: Unit::Ratio,
    help: "Share of tcp_max_orphans in use for critical.",
};

pub(super) struct OrphanLimit;

impl Rule for OrphanLimit {
    fn doc(&self) -> &'static RuleDoc {
        &DOC
    }

    fn check(&self, cx: &Context) -> Vec<Finding> {
        let Some(ss) = cx.host.sockstat else {
            return Vec::new();
        };
        // tcp_max_orphans is global: only the host's own namespace shows it.
        // Elsewhere assume the kernel's default, half the global established
        // hash (tcp_init), which tcp_ehash_entries shows as a negative number
        // in a namespace that shares it.
        let live = cx.sysctl("net.ipv4.tcp_max_orphans");
        let assumed = live.is_none();
        let max = live
            .or_else(|| {
                cx.sysctl("net.ipv4.tcp_ehash_entries")
                    .filter(|e| *e < 0)
                    .map(|e| -e / 2)
            })
            .unwrap_or(0);
        let ratio = if max > 0 {
            ss.orphan as f64 / max as f64
        } else {
            0.0
        };
        let aborts = cx.delta("TCPAbortOnMemory");
        let severity = if ratio >= cx.thresholds.get(&ORPHAN_CRIT) {
            Severity::Critical
        } else if ratio >= cx.thresholds.get(&ORPHAN_WARN) || aborts > 0 {
            Severity::Warning
        } else {
            return Vec::new();
        };
        vec![
            Finding::new(
                DOC.id,
                severity,
                "net.ipv4.tcp_max_orphans".into(),
                format!(
                    "{} orphaned sockets against \
                tcp_max_orphans {max} ({:.0}%); TCPAbortOnMemory +{aborts}",
                    ss.orphan,
                    ratio * 100.0
                ),
            )
            .evidence(
                Evidence::default()
                    .with("orphans", ss.orphan)
                    .with("tcp_max_orphans", max)
                    .with("ratio", (ratio * 1000.0).round() / 1000.0)
                    .with("abort_on_memory_in_interval", aborts)
                    .with("tcp_max_orphans_assumed_default", assumed),
            )
            .explain(
                "An orphan is a socket its process has closed while TCP still finishes \
                    the close (FIN_WAIT1, FIN_WAIT2, LAST_ACK, CLOSING). Over tcp_max_orphans, or \
                    short of tcp_mem, the kernel resets orphans at once (TCPAbortOnMemory) and \
                    logs \"too many orphaned sockets\"; each orphan can pin up to ~64 KB of \
                    unswappable memory."
                    .into(),
            )
            .remedy(
                "Find where closes stall: tcpdoctor census (FIN_WAIT1 means peers that do \
                    not ACK or read; LAST_ACK peers that vanished). Raise tcp_max_orphans only \
                    with the memory to back it."
                    .into(),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::{Host, severities};
    use crate::model::Sockstat;

    fn orphans(n: u64) -> Host {
        Host::new()
            .sysctl("net.ipv4.tcp_max_orphans", "100")
            .sockstat(Sockstat {
                orphan: n,
                ..Sockstat::default()
            })
    }

    #[test]
    fn ratio_edges() {
        let sev = |n| severities(&orphans(n).findings(&OrphanLimit));
        assert!(sev(49).is_empty());
        assert_eq!(sev(50), [Severity::Warning]);
        assert_eq!(sev(79), [Severity::Warning]);
        assert_eq!(sev(80), [Severity::Critical]);
    }

    #[test]
    fn aborts_on_memory_warn_at_any_ratio() {
        let f = orphans(0)
            .counter("TCPAbortOnMemory", 3, 5)
            .findings(&OrphanLimit);
        assert_eq!(severities(&f), [Severity::Warning]);
    }

    #[test]
    fn without_the_global_limit_the_default_is_assumed_and_said() {
        let f = Host::new()
            .sysctl("net.ipv4.tcp_ehash_entries", "-200")
            .sockstat(Sockstat {
                orphan: 80,
                ..Sockstat::default()
            })
            .findings(&OrphanLimit);
        assert_eq!(severities(&f), [Severity::Critical]);
        assert_eq!(
            f[0].evidence.get("tcp_max_orphans_assumed_default"),
            Some(&true.into())
        );
    }
}
