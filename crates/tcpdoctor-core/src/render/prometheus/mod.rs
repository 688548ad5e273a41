//! tcpdoctor's metric families in the Prometheus text exposition format,
//! shaped as node_exporter is: one collector per family group, each behind
//! `Collector`, and a `Writer` that only writes. The full refresh's
//! figures ([`FullMetrics`]) are built here from a snapshot, its rows and
//! a diagnosis made by the caller; scrapes then write them. Pure: data in,
//! text out.

mod close_wait;
mod fds;
mod findings;
mod host;
mod ports;
mod states;
mod status;
mod time_wait;
mod traced;
mod trends;
mod writer;

pub use time_wait::Attributed;
pub(crate) use traced::TracedEnds;
use writer::Writer;
pub use writer::escape;

use crate::diagnose::Diagnosis;
use crate::model::{NamespaceCount, Snapshot, SocketRow, Trends, rows_by_namespace};
use std::collections::BTreeMap;

/// What the full refresh computes (owners, findings), per namespace.
#[derive(Clone, Debug, Default)]
pub struct FullMetrics {
    /// (netns, process, count)
    pub close_wait: Vec<(String, String, u64)>,
    /// (netns, process, how it is known, count)
    pub time_wait: Vec<(String, String, Attributed, u64)>,
    /// (netns, local ip, remote, ratio)
    pub port_utilization: Vec<(String, String, String, f64)>,
    /// (process, pid, ratio of RLIMIT_NOFILE in use)
    pub fd_utilization: Vec<(String, u32, f64)>,
    /// Trends over the exporter's refreshes, when it has two or more:
    /// (process, pid, CLOSE_WAIT growth per minute).
    pub close_wait_growth: Vec<(String, u32, f64)>,
    /// (process, pid, seconds until RLIMIT_NOFILE at the current growth).
    pub fd_exhaustion_s: Vec<(String, u32, f64)>,
    /// (local ip, remote, seconds until the ephemeral ports run out).
    pub port_exhaustion_s: Vec<(String, String, f64)>,
    /// The measured window those trends are over.
    pub trend_window_s: f64,
    pub diagnosis: Option<Diagnosis>,
    pub refreshed_unix: u64,
    pub duration_s: f64,
}

/// Keeps the `top` largest counts and sums the rest under `other`, so label
/// cardinality stays bounded whatever runs on the host.
pub(crate) fn cap<K: Ord + Clone>(counts: BTreeMap<K, u64>, top: usize, other: K) -> Vec<(K, u64)> {
    let mut v: Vec<(K, u64)> = counts.into_iter().collect();
    v.sort_by_key(|(k, n)| (std::cmp::Reverse(*n), k.clone()));
    if v.len() > top {
        let rest: u64 = v[top..].iter().map(|(_, n)| n).sum();
        v.truncate(top);
        v.push((other, rest));
    }
    v
}

/// A process's name in the snapshot's owner index.
fn comm(snap: &Snapshot, pid: u32) -> String {
    snap.owners
        .process(pid)
        .map_or_else(|| "unknown".to_string(), |p| p.comm.clone())
}

/// The full metrics of a snapshot and the diagnosis the caller made of
/// it, its rows built here.
pub fn full_metrics(snap: &Snapshot, diagnosis: Diagnosis, top: usize) -> FullMetrics {
    let rows = rows_by_namespace(snap);
    full_metrics_on_rows(snap, &rows, snap.trends.as_deref(), diagnosis, top)
}

/// The full metrics of a snapshot, from its rows (one per namespace, built
/// already), its trends and the diagnosis the caller made of them.
pub(crate) fn full_metrics_on_rows(
    snap: &Snapshot,
    rows: &[Vec<SocketRow<'_>>],
    trends: Option<&Trends>,
    diagnosis: Diagnosis,
    top: usize,
) -> FullMetrics {
    assert_eq!(
        rows.len(),
        snap.namespaces.len(),
        "rows for every namespace"
    );
    let several = snap.namespaces.len() > 1;
    let mut m = FullMetrics::default();
    // Every tuple's port use, whether or not a finding fired for it; the
    // highest `top` of all namespaces are kept.
    let mut port_use = Vec::new();
    for (nsnap, rows) in snap.namespaces.iter().zip(rows) {
        let ns = if several {
            nsnap.netns.short_label()
        } else {
            String::new()
        };
        m.close_wait
            .extend(close_wait::per_process(snap, &ns, rows, top));
        m.time_wait
            .extend(time_wait::per_closer(snap, &ns, rows, top));
        port_use.extend(ports::usage(&ns, nsnap, rows));
    }
    m.port_utilization = ports::highest(port_use, top);
    m.fd_utilization = fds::highest(snap, top);
    if let Some(t) = trends {
        trends::add(&mut m, t, top);
    }
    m.diagnosis = Some(diagnosis);
    m
}

/// What the collectors write from: one scrape's samples and collector
/// outcomes, the cached full refresh and, with `serve --trace`, the
/// tracer's counts.
struct Input<'a> {
    pub fast: &'a [NamespaceCount],
    pub full: &'a FullMetrics,
    /// (collector, success, seconds) of this scrape.
    pub collectors: &'a [(&'a str, bool, f64)],
    pub traced: Option<&'a TracedEnds>,
}

/// One group of metric families: reads its part of the input and writes
/// its families, always the same ones in the same order (empty families
/// keep their HELP and TYPE, so every scrape names the same families).
trait Collector {
    fn collect(&self, input: &Input<'_>, out: &mut Writer<'_>);
}

/// The collectors of /metrics, in the order their families appear.
/// `traced::ConnectionEnds` is not among them: it runs only while a
/// tracer does ([`render_traced`]).
const COLLECTORS: &[&dyn Collector] = &[
    &states::Sockets,
    &host::HostCounters,
    &close_wait::CloseWait,
    &time_wait::TimeWait,
    &ports::PortUtilization,
    &fds::FdUtilization,
    &trends::Trends,
    &findings::Findings,
    &status::Status,
];

/// Writes every family.
pub fn render(
    fast: &[NamespaceCount],
    full: &FullMetrics,
    collectors: &[(&str, bool, f64)],
) -> String {
    let mut body = String::with_capacity(16 * 1024);
    let input = Input {
        fast,
        full,
        collectors,
        traced: None,
    };
    let mut out = Writer::new(&mut body);
    for c in COLLECTORS {
        c.collect(&input, &mut out);
    }
    body
}

/// The families of `serve --trace`, appended to the /metrics body.
pub(crate) fn render_traced(t: &TracedEnds, body: &mut String) {
    let full = FullMetrics::default();
    let input = Input {
        fast: &[],
        full: &full,
        collectors: &[],
        traced: Some(t),
    };
    traced::ConnectionEnds.collect(&input, &mut Writer::new(body));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::{self, Selection, Thresholds};

    /// What one collector writes from `input`.
    pub(super) fn written(c: &dyn Collector, input: &Input<'_>) -> String {
        let mut body = String::new();
        c.collect(input, &mut Writer::new(&mut body));
        body
    }

    /// An input with only `full` in it.
    pub(super) fn input_of(full: &FullMetrics) -> Input<'_> {
        Input {
            fast: &[],
            full,
            collectors: &[],
            traced: None,
        }
    }

    #[test]
    fn capping_keeps_the_top_and_sums_the_rest() {
        let m: BTreeMap<String, u64> = [("a", 5), ("b", 3), ("c", 1), ("d", 1)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(
            cap(m, 2, "other".into()),
            vec![("a".into(), 5), ("b".into(), 3), ("other".into(), 2)]
        );
    }

    #[test]
    fn an_empty_exposition_still_names_every_family_once() {
        let text = render(&[], &FullMetrics::default(), &[]);
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
        let mut names: Vec<&str> = types.iter().filter_map(|l| l.split(' ').nth(2)).collect();
        assert_eq!(names.len(), 19, "{text}");
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 19, "no family twice");
    }

    #[test]
    fn the_full_metrics_keep_the_diagnosis_they_are_given() {
        let snap = Snapshot {
            namespaces: vec![crate::model::NsSnapshot::default()],
            ..Snapshot::default()
        };
        let rows = rows_by_namespace(&snap);
        let d = diagnose::run_on_rows(&snap, &rows, None, &Thresholds::default(), Selection::All);
        let n = d.findings.len();
        let m = full_metrics_on_rows(&snap, &rows, None, d, 10);
        assert_eq!(m.diagnosis.map(|d| d.findings.len()), Some(n));
    }
}
