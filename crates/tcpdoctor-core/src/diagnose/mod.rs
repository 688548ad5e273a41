//! Findings with evidence, cause and remedy. Every rule is one file in
//! `rules/`, behind the same small interface (`Rule`), registered once in
//! `rules::ALL`; `explain`, docs/rules.md and the thresholds' defaults read
//! from that registry. Rules never do I/O: they read a `Context`.

pub(crate) mod counts;
mod docs;
pub mod explain;
pub mod rules;
mod services;
pub(crate) mod sysctls;
#[cfg(test)]
mod testkit;
pub mod thresholds;

pub use crate::model::Severity;
use crate::model::{
    CloseTracing, HostInfo, Needs, NetnsInfo, OwnerIndex, Process, Snapshot, SocketRow,
    SysctlSetting, TcpState, Trends, rows_by_namespace,
};
use docs::rule_text;
pub use docs::rules_markdown;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};
pub use thresholds::{Threshold, Thresholds, Unit};

/// The numbers behind a finding, in the order they were measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evidence(pub Vec<(String, serde_json::Value)>);

impl Evidence {
    pub(crate) fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Evidence {
        self.0.push((key.to_string(), value.into()));
        self
    }

    /// `with` when there is a value (a rounded one), else nothing.
    fn with_some(self, key: &str, value: Option<f64>) -> Evidence {
        match value {
            Some(v) => self.with(key, (v * 10.0).round() / 10.0),
            None => self,
        }
    }

    /// `with`, unless the text is empty (evidence that only some sources
    /// give, such as the closers a tracer saw).
    fn with_text(self, key: &str, text: String) -> Evidence {
        if text.is_empty() {
            self
        } else {
            self.with(key, text)
        }
    }

    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl Serialize for Evidence {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// The rule's stable id (`close-wait-leak`, `sysctl-tw-recycle`, ...).
    pub id: &'static str,
    pub severity: Severity,
    /// One line naming its subject.
    pub title: String,
    /// What it is about: `pid 1234 (nginx)`, `127.0.0.1:5432`, a sysctl.
    pub subject: String,
    pub evidence: Evidence,
    pub explanation: String,
    pub remedy: String,
    /// A sysctl.d line that fixes it, for `tcpdoctor sysctl --emit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommend: Option<Recommendation>,
    /// The namespace, when several were diagnosed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
}

/// A recommended sysctl setting (or the removal of a line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Recommendation {
    pub key: String,
    /// None: delete the setting where it is (`location`).
    pub value: Option<String>,
    /// file:line of the setting to change, when it comes from a file.
    pub location: Option<String>,
}

impl Finding {
    /// A finding with no recommendation and no namespace label.
    pub(crate) fn new(
        id: &'static str,
        severity: Severity,
        subject: String,
        title: String,
    ) -> Finding {
        Finding {
            id,
            severity,
            title,
            subject,
            evidence: Evidence::default(),
            explanation: String::new(),
            remedy: String::new(),
            recommend: None,
            netns: None,
        }
    }

    pub(crate) fn evidence(mut self, e: Evidence) -> Finding {
        self.evidence = e;
        self
    }

    pub fn explain(mut self, text: String) -> Finding {
        self.explanation = text;
        self
    }

    pub(crate) fn remedy(mut self, text: String) -> Finding {
        self.remedy = text;
        self
    }

    fn with_recommend(mut self, r: Recommendation) -> Finding {
        self.recommend = Some(r);
        self
    }
}

/// What part of the diagnosis a rule belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Sockets piling up in a state: CLOSE_WAIT, TIME_WAIT, FIN_WAIT2.
    Connections,
    /// A kernel or process limit running out: ports, fds, orphans, queues.
    Limits,
    /// A sysctl set against what it really does (`tcpdoctor sysctl`).
    Sysctl,
}

impl Category {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Category::Connections => "connections",
            Category::Limits => "limits",
            Category::Sysctl => "sysctl",
        }
    }
}

/// What a rule declares about itself: `explain`, docs/rules.md, the
/// threshold flags and the collection plan are generated from it.
#[derive(Debug)]
pub struct RuleDoc {
    pub id: &'static str,
    pub category: Category,
    /// The data it reads; collection skips what no selected rule needs.
    pub needs: Needs,
    /// The state whose place in the TCP sequence `explain` draws.
    pub diagram: Option<TcpState>,
    /// What it looks at and when it fires.
    pub trigger: &'static str,
    /// How the severity is chosen, naming thresholds by flag
    /// (`--close-wait-count`); the numbers come from `thresholds`.
    pub levels: &'static str,
    /// Every threshold it reads.
    pub thresholds: &'static [&'static Threshold],
    pub remedy: &'static str,
}

impl RuleDoc {
    /// `levels` with each flag followed by its default: "--fd-warn (80%)".
    fn levels_with_defaults(&self) -> String {
        let mut s = self.levels.to_string();
        for t in self.thresholds {
            let flag = format!("--{}", t.flag);
            // Longest flags first would matter only for flags that prefix
            // others; mark each once, at a word boundary.
            if let Some(i) = find_flag(&s, &flag) {
                let shown = format!("{flag} ({})", t.unit.show(t.default));
                s.replace_range(i..i + flag.len(), &shown);
            }
        }
        s
    }
}

/// Where `flag` occurs in `text` as a whole flag (not as the start of a
/// longer one).
fn find_flag(text: &str, flag: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(flag) {
        let at = from + i;
        let next = text[at + flag.len()..].chars().next();
        if !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Some(at);
        }
        from = at + flag.len();
    }
    None
}

/// A rule: reads the context, returns findings.
pub trait Rule: Sync {
    fn doc(&self) -> &'static RuleDoc;
    fn check(&self, cx: &Context) -> Vec<Finding>;
}

/// Everything the rules may read about one namespace.
pub struct Context<'a> {
    pub netns: &'a NetnsInfo,
    pub rows: &'a [SocketRow<'a>],
    pub owners: &'a OwnerIndex,
    /// Counters, sysctls and limits, read at the end of the interval.
    pub host: &'a HostInfo,
    /// TcpExt and Tcp counters at the start of the interval.
    pub tcp_ext_before: &'a BTreeMap<String, i64>,
    /// Tcp (snmp) counters at the start of the interval.
    pub tcp_before: &'a BTreeMap<String, i64>,
    pub interval_s: f64,
    /// Whether LISTEN sockets' `send_q` is their backlog (not from /proc).
    pub listen_backlog_known: bool,
    pub thresholds: &'a Thresholds,
    /// Settings from sysctl.conf files (empty except for the host's own
    /// namespace).
    pub files: &'a [SysctlSetting],
    /// Growth and predictions when the host was observed over time
    /// (`diagnose --for`, `watch`, the exporter): every process and tuple,
    /// untruncated. Given to every namespace's rules; per-tuple trends are
    /// looked up by namespace (`Trends::upstream`).
    pub trends: Option<&'a Trends>,
    /// Whether this namespace reports the host-wide facts (processes'
    /// trends: pids are host-wide), which only the first one does, so
    /// that several namespaces do not repeat them.
    pub host_wide: bool,
}

impl Context<'_> {
    /// How much a TcpExt counter grew over the interval.
    fn delta(&self, name: &str) -> i64 {
        // A counter absent before counts from zero: a namespace made for the
        // lab starts its counters there.
        let after = self.host.tcp_ext.get(name).copied().unwrap_or(0);
        let before = self.tcp_ext_before.get(name).copied().unwrap_or(0);
        (after - before).max(0)
    }

    /// A Tcp (snmp) counter's rate per second over the measured interval,
    /// when there was one (two samples, a known interval).
    fn tcp_rate(&self, name: &str) -> Option<f64> {
        let before = *self.tcp_before.get(name)?;
        let after = *self.host.tcp.get(name)?;
        (self.interval_s > 0.0).then(|| (after - before).max(0) as f64 / self.interval_s)
    }

    pub(crate) fn counter(&self, name: &str) -> i64 {
        self.host.tcp_ext.get(name).copied().unwrap_or(0)
    }

    pub(crate) fn sysctl(&self, name: &str) -> Option<i64> {
        self.host.sysctl_i64(name)
    }

    pub(crate) fn process(&self, pid: u32) -> Option<&Process> {
        self.owners.process(pid)
    }

    /// "pid 1234 (nginx)".
    pub(crate) fn name_of(&self, pid: u32) -> String {
        match self.process(pid) {
            Some(p) if !p.comm.is_empty() => format!("pid {pid} ({})", p.comm),
            _ => format!("pid {pid}"),
        }
    }

    fn rows_in(&self, state: TcpState) -> impl Iterator<Item = &SocketRow<'_>> {
        self.rows.iter().filter(move |r| r.socket.state == state)
    }

    pub(crate) fn count(&self, state: TcpState) -> usize {
        self.rows_in(state).count()
    }
}

/// Which rules to run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Selection {
    #[default]
    All,
    /// Only the sysctl audit (`tcpdoctor sysctl`).
    Sysctl,
}

impl Selection {
    pub(crate) fn wants(self, doc: &RuleDoc) -> bool {
        match self {
            Selection::All => true,
            Selection::Sysctl => doc.category == Category::Sysctl,
        }
    }

    /// What the selected rules need, together.
    pub fn needs(self) -> Needs {
        rules::ALL
            .iter()
            .map(|r| r.doc())
            .filter(|d| self.wants(d))
            .fold(Needs::NOTHING, |n, d| n.and(d.needs))
    }
}

/// Runs the selected rules on every namespace of a snapshot, live or read
/// back from a file; findings most severe first.
pub fn run(snap: &Snapshot, thresholds: &Thresholds, selection: Selection) -> Diagnosis {
    let rows = rows_by_namespace(snap);
    run_on_rows(snap, &rows, snap.trends.as_deref(), thresholds, selection)
}

/// As [`run`], on rows built already (`rows_by_namespace`) and with
/// `trends` given apart from the snapshot: a caller that has just computed
/// the trends from those rows (the observer) builds them once for both.
pub(crate) fn run_on_rows(
    snap: &Snapshot,
    rows_by_ns: &[Vec<SocketRow<'_>>],
    trends: Option<&Trends>,
    thresholds: &Thresholds,
    selection: Selection,
) -> Diagnosis {
    assert_eq!(
        rows_by_ns.len(),
        snap.namespaces.len(),
        "rows for every namespace"
    );
    let several = snap.namespaces.len() > 1;
    let mut findings = Vec::new();
    for (ns, rows) in snap.namespaces.iter().zip(rows_by_ns) {
        // The sysctl files configure the host's own namespace: audit them
        // with the namespace tcpdoctor runs in.
        let files: &[SysctlSetting] = if ns.netns.current {
            &snap.sysctl_settings
        } else {
            &[]
        };
        let cx = Context {
            netns: &ns.netns,
            rows,
            owners: &snap.owners,
            host: &ns.host,
            tcp_ext_before: &ns.tcp_ext_before,
            tcp_before: &ns.tcp_before,
            interval_s: snap.interval_s,
            listen_backlog_known: ns.listen_backlog_known,
            thresholds,
            files,
            trends,
            host_wide: std::ptr::eq(ns, &snap.namespaces[0]),
        };
        for r in rules::ALL.iter().filter(|r| selection.wants(r.doc())) {
            for mut f in r.check(&cx) {
                f.netns = several.then(|| ns.netns.short_label());
                findings.push(f);
            }
        }
    }
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.id.cmp(b.id))
            .then(a.subject.cmp(&b.subject))
    });
    let labels = snap.namespaces.iter().map(|n| n.netns.label()).collect();
    let summary = Summary::new(&findings, labels, snap.notes.clone());
    Diagnosis { findings, summary }
}

/// Counts per severity and the one-line verdict.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub critical: usize,
    pub warning: usize,
    pub info: usize,
    pub verdict: String,
    /// The namespaces diagnosed (labels).
    pub namespaces: Vec<String>,
    /// What could not be read or was left out, one line each.
    pub notes: Vec<String>,
}

impl Summary {
    pub(crate) fn new(
        findings: &[Finding],
        namespaces: Vec<String>,
        notes: Vec<String>,
    ) -> Summary {
        let n = |s| findings.iter().filter(|f| f.severity == s).count();
        let (critical, warning, info) = (
            n(Severity::Critical),
            n(Severity::Warning),
            n(Severity::Info),
        );
        let verdict = if critical > 0 {
            format!(
                "CRITICAL: {critical} critical, {warning} warning, {info} info finding(s); start \
                    with the critical ones"
            )
        } else if warning > 0 {
            format!("WARNING: {warning} warning, {info} info finding(s)")
        } else if info > 0 {
            format!("OK: nothing above info ({info} info finding(s))")
        } else {
            "OK: no TCP connection-state trouble found".to_string()
        };
        Summary {
            critical,
            warning,
            info,
            verdict,
            namespaces,
            notes,
        }
    }

    /// Nagios: 0 nothing above info, 1 warning, 2 critical.
    pub fn exit_code(&self) -> i32 {
        if self.critical > 0 {
            2
        } else if self.warning > 0 {
            1
        } else {
            0
        }
    }
}

/// A diagnosis: findings, most severe first, and the summary.
#[derive(Clone, Debug, Serialize)]
pub struct Diagnosis {
    pub findings: Vec<Finding>,
    pub summary: Summary,
}

/// A group of TIME_WAIT sockets (one server port, one upstream): how many,
/// who likely closed them, and the oldest age, which says when the
/// group's closing began.
#[derive(Default)]
struct TimeWaitGroup {
    pub count: u64,
    pub likely_owners: BTreeSet<u32>,
    /// Exact closers seen by a tracer: (pid, comm) -> sockets.
    pub closed_by: BTreeMap<(u32, String), u64>,
    pub oldest_age_s: Option<f64>,
}

impl TimeWaitGroup {
    pub(crate) fn add(&mut self, r: &SocketRow<'_>) {
        self.count += 1;
        match r.closed_by {
            Some(c) => *self.closed_by.entry((c.pid, c.comm.clone())).or_insert(0) += 1,
            None => self.likely_owners.extend(r.likely_owners.iter().copied()),
        }
        if let Some(a) = r.age_s {
            self.oldest_age_s = Some(self.oldest_age_s.map_or(a, |o| o.max(a)));
        }
    }

    /// The exact closers, most sockets first: "7/nginx (90), 8/curl (3)".
    fn closed_by_list(&self) -> String {
        let mut v: Vec<(&(u32, String), &u64)> = self.closed_by.iter().collect();
        v.sort_by_key(|(k, n)| (std::cmp::Reverse(**n), *k));
        let items: Vec<String> = v
            .iter()
            .map(|((pid, comm), n)| format!("{pid}/{comm} ({n})"))
            .collect();
        items.join(", ")
    }

    /// Who closed them, as a title says it: exact where a tracer saw the
    /// close, "likely" (a guess) for the rest, and what the trace covered:
    /// how many predate it, or where it could not run, the command that
    /// would name them.
    fn closers_said(&self, name_of: impl Fn(u32) -> String, owners: &OwnerIndex) -> String {
        let tracing = owners.close_tracing.as_ref();
        let exact: u64 = self.closed_by.values().sum();
        let rest = self.count - exact;
        let likely: Vec<String> = self.likely_owners.iter().map(|p| name_of(*p)).collect();
        let likely = (!likely.is_empty()).then(|| format!("likely {}", likely.join(", ")));
        let trace = match tracing {
            Some(CloseTracing::Traced { window_s }) => format!("the {window_s:.1} s trace"),
            _ => "tracing".to_string(),
        };
        let unknown = match tracing {
            None => owners.unknown("closer unknown: no process holds a connection to it now"),
            Some(_) => "closer unknown: no process holds a connection to it now",
        };
        if exact > 0 {
            let seen = format!("closed by {}", self.closed_by_list());
            return match (rest, likely) {
                (0, _) => seen,
                (_, Some(l)) => format!("{seen}; {l} for the {rest} closed before {trace}"),
                (_, None) => format!("{seen}; {rest} closed before {trace}"),
            };
        }
        let command = CloseTracing::TRACE_COMMAND;
        match (tracing, likely) {
            (Some(CloseTracing::Traced { .. }), Some(l)) => {
                format!("{l}; none closed during {trace}")
            }
            (Some(CloseTracing::Traced { .. }), None) => {
                format!("{unknown}, and none closed during {trace}")
            }
            (Some(CloseTracing::Unavailable { .. }), Some(l)) => {
                format!("{l}, a guess: `{command}` names the closer")
            }
            (Some(CloseTracing::Unavailable { .. }), None) => {
                format!("{unknown}; `{command}` names it")
            }
            (None, Some(l)) => l,
            (None, None) => unknown.to_string(),
        }
    }

    /// What the trace saw of this group, for the evidence: how many were
    /// seen closing and how many predate the trace (None: not traced).
    fn traced_counts(&self, tracing: Option<&CloseTracing>) -> (Option<u64>, Option<u64>) {
        match tracing {
            Some(CloseTracing::Traced { .. }) => {
                let seen: u64 = self.closed_by.values().sum();
                (Some(seen), Some(self.count - seen))
            }
            _ => (None, None),
        }
    }

    /// How fast this group's connections closed: each TIME_WAIT's age says
    /// when its connection closed, so `count` of them with the oldest `a`
    /// seconds old closed over the last `a` s (TIME_WAIT's whole 60 s once
    /// the churn is older than that). Without ages (a dump without timers)
    /// the 60 s gives a lower bound.
    fn closing_rate(&self) -> ClosingRate {
        let n = self.count;
        let window_s = self.oldest_age_s.map_or(60.0, |a| a.clamp(1.0, 60.0));
        let said = match self.oldest_age_s {
            Some(_) => format!("{n} closed in the last {window_s:.0} s (TIME_WAIT ages)"),
            None => format!(
                "{n} in TIME_WAIT's 60 s (no ages in this source: a lower bound if the churn \
                 began less than a minute ago)"
            ),
        };
        ClosingRate {
            per_s: n as f64 / window_s,
            window_s,
            said,
        }
    }
}

/// A closing rate and the measured window it was taken over.
struct ClosingRate {
    pub per_s: f64,
    pub window_s: f64,
    /// "N closed in the last W s (TIME_WAIT ages)", or what is assumed.
    pub said: String,
}

/// Counts equal items, most frequent first (ties by item).
pub(crate) fn tally<I: IntoIterator<Item = String>>(items: I) -> Vec<(String, u64)> {
    let mut m: BTreeMap<String, u64> = BTreeMap::new();
    for i in items {
        *m.entry(i).or_insert(0) += 1;
    }
    let mut v: Vec<(String, u64)> = m.into_iter().collect();
    v.sort_by_key(|(k, n)| (std::cmp::Reverse(*n), k.clone()));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sysctl_audit_needs_no_owner_scan_and_no_counter_interval() {
        let n = Selection::Sysctl.needs();
        assert!(n.host && n.sysctl_files);
        assert!(!n.owners && !n.counter_rates && !n.close_wait_info);
        assert_eq!(Selection::All.needs(), Needs::EVERYTHING);
    }

    #[test]
    fn levels_show_each_flag_with_its_default_once() {
        let d = rules::doc("close-wait-leak").expect("registered");
        let s = d.levels_with_defaults();
        assert!(s.contains("--close-wait-count (100)"), "{s}");
        assert!(s.contains("--close-wait-count-crit (1000)"), "{s}");
        assert!(s.contains("--fd-warn (80%)"), "{s}");
    }
}
