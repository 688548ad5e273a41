//! Findings with evidence, cause and remedy. Every rule is one file in
//! `rules/`, behind the same small interface (`Rule`), registered once in
//! `rules::ALL`; `explain`, docs/rules.md and the thresholds' defaults read
//! from that registry. Rules never do I/O: they read a `Context`.

pub mod rules;
pub mod sysctl_files;
pub mod thresholds;

use crate::collect::netns::NetnsInfo;
use crate::collect::owners::OwnerIndex;
use crate::listing::SocketRow;
use crate::model::{HostInfo, Process, TcpState};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
pub use sysctl_files::SysctlSetting;
pub use thresholds::Thresholds;

/// How bad a finding is. Ordered: Info < Warning < Critical.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// The exit code a Nagios plugin gives for it.
    pub fn exit_code(self) -> i32 {
        match self {
            Severity::Info => 0,
            Severity::Warning => 1,
            Severity::Critical => 2,
        }
    }
}

/// The numbers behind a finding, in the order they were measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evidence(pub Vec<(String, serde_json::Value)>);

impl Evidence {
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Evidence {
        self.0.push((key.to_string(), value.into()));
        self
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
    pub fn new(id: &'static str, severity: Severity, subject: String, title: String) -> Finding {
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

    pub fn evidence(mut self, e: Evidence) -> Finding {
        self.evidence = e;
        self
    }

    pub fn explain(mut self, text: String) -> Finding {
        self.explanation = text;
        self
    }

    pub fn remedy(mut self, text: String) -> Finding {
        self.remedy = text;
        self
    }

    pub fn with_recommend(mut self, r: Recommendation) -> Finding {
        self.recommend = Some(r);
        self
    }
}

/// What a rule says about itself: for `explain`, docs/rules.md and --help.
#[derive(Clone, Copy, Debug)]
pub struct RuleDoc {
    pub id: &'static str,
    /// What it looks at and when it fires.
    pub trigger: &'static str,
    /// Default thresholds, as the flags that change them.
    pub thresholds: &'static str,
    pub remedy: &'static str,
}

/// A rule: reads the context, returns findings.
pub trait Rule: Sync {
    fn doc(&self) -> &'static RuleDoc;
    fn check(&self, cx: &Context) -> Vec<Finding>;
}

/// Everything the rules may read about one namespace.
pub struct Context<'a> {
    pub netns: &'a NetnsInfo,
    pub rows: &'a [SocketRow],
    pub owners: &'a OwnerIndex,
    /// Counters, sysctls and limits, read at the end of the interval.
    pub host: &'a HostInfo,
    /// TcpExt and Tcp counters at the start of the interval.
    pub tcp_ext_before: &'a BTreeMap<String, i64>,
    pub interval_s: f64,
    pub thresholds: &'a Thresholds,
    /// Settings from sysctl.conf files (empty except for the host's own
    /// namespace).
    pub files: &'a [SysctlSetting],
}

impl Context<'_> {
    /// How much a TcpExt counter grew over the interval.
    pub fn delta(&self, name: &str) -> i64 {
        // A counter absent before counts from zero: a namespace made for the
        // lab starts its counters there.
        let after = self.host.tcp_ext.get(name).copied().unwrap_or(0);
        let before = self.tcp_ext_before.get(name).copied().unwrap_or(0);
        (after - before).max(0)
    }

    pub fn counter(&self, name: &str) -> i64 {
        self.host.tcp_ext.get(name).copied().unwrap_or(0)
    }

    pub fn sysctl(&self, name: &str) -> Option<i64> {
        self.host.sysctl_i64(name)
    }

    pub fn process(&self, pid: u32) -> Option<&Process> {
        self.owners.process(pid)
    }

    /// "pid 1234 (nginx)".
    pub fn name_of(&self, pid: u32) -> String {
        match self.process(pid) {
            Some(p) if !p.comm.is_empty() => format!("pid {pid} ({})", p.comm),
            _ => format!("pid {pid}"),
        }
    }

    pub fn rows_in(&self, state: TcpState) -> impl Iterator<Item = &SocketRow> {
        self.rows.iter().filter(move |r| r.socket.state == state)
    }

    pub fn count(&self, state: TcpState) -> usize {
        self.rows_in(state).count()
    }
}

/// Runs every rule.
pub fn run_rules(cx: &Context) -> Vec<Finding> {
    let mut all: Vec<Finding> = rules::ALL.iter().flat_map(|r| r.check(cx)).collect();
    all.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.id.cmp(b.id))
            .then(a.subject.cmp(&b.subject))
    });
    all
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
    pub fn new(findings: &[Finding], namespaces: Vec<String>, notes: Vec<String>) -> Summary {
        let n = |s| findings.iter().filter(|f| f.severity == s).count();
        let (critical, warning, info) = (
            n(Severity::Critical),
            n(Severity::Warning),
            n(Severity::Info),
        );
        let verdict = if critical > 0 {
            format!(
                "CRITICAL: {critical} critical, {warning} warning, {info} info finding(s); start with the critical ones"
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

/// Counts equal items, most frequent first (ties by item).
pub fn tally<I: IntoIterator<Item = String>>(items: I) -> Vec<(String, u64)> {
    let mut m: BTreeMap<String, u64> = BTreeMap::new();
    for i in items {
        *m.entry(i).or_insert(0) += 1;
    }
    let mut v: Vec<(String, u64)> = m.into_iter().collect();
    v.sort_by_key(|(k, n)| (std::cmp::Reverse(*n), k.clone()));
    v
}

/// Formats seconds as "3m12s".
pub fn human_age(s: f64) -> String {
    crate::render::sockets::format_age(Some(s))
}

/// Formats bytes as "15.2 MB".
pub fn human_bytes(b: f64) -> String {
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{b:.0} B")
    }
}

/// docs/rules.md, generated from the registry (a test keeps the file in
/// step: TCPDOCTOR_BLESS=1 rewrites it).
pub fn rules_markdown() -> String {
    let mut s = String::from(
        "# Rules\n\nWhat `tcpdoctor diagnose` checks. Generated from the rule registry \
         (`crates/tcpdoctor-core/src/diagnose/rules/`); `tcpdoctor explain ID` prints the same. \
         Severities: info, warning, critical; exit status 0 (nothing above info), 1 (warning), \
         2 (critical), 3 (could not run).\n",
    );
    for r in rules::ALL {
        let d = r.doc();
        s.push_str(&format!(
            "\n## {}\n\n- Trigger: {}\n- Thresholds: {}\n- Remedy: {}\n",
            d.id, d.trigger, d.thresholds, d.remedy
        ));
    }
    s
}
