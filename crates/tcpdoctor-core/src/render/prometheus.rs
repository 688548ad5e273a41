//! The Prometheus text exposition format, and tcpdoctor's metric families
//! built from a census, host counters and a cached full diagnosis. Pure:
//! data in, text out.

use crate::diagnose::Diagnosis;
use crate::model::{
    COUNTERS_THAT_MATTER, ConnectionEnd, EndKind, HostInfo, NsSnapshot, Snapshot, SocketRow,
    TCP_COUNTERS_THAT_MATTER, TcpState, Trends, rows_by_namespace, tuple_usage,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Escapes a label value: backslash, double quote and newline.
pub fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// One metric family being written.
pub struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

impl<'a> Family<'a> {
    pub fn new(out: &'a mut String, name: &'static str, kind: &str, help: &str) -> Family<'a> {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Family { out, name }
    }

    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
            let _ = writeln!(self.out, " {}", value as i64);
        } else {
            let _ = writeln!(self.out, " {value}");
        }
    }
}

/// A gauge with one sample per process (`process` and `pid` labels), each
/// value passed through `value`.
fn process_gauge(
    out: &mut String,
    name: &'static str,
    help: &str,
    rows: &[(String, u32, f64)],
    value: fn(f64) -> f64,
) {
    let mut f = Family::new(out, name, "gauge", help);
    for (p, pid, v) in rows {
        f.sample(&[("process", p), ("pid", &pid.to_string())], value(*v));
    }
}

/// What each scrape measures afresh, per namespace.
#[derive(Clone, Debug, Default)]
pub struct FastSample {
    pub netns: String,
    pub states: BTreeMap<TcpState, u64>,
    pub host: HostInfo,
}

/// Keeps the `top` largest counts and sums the rest under `other`, so label
/// cardinality stays bounded whatever runs on the host.
pub fn cap<K: Ord + Clone>(counts: BTreeMap<K, u64>, top: usize, other: K) -> Vec<(K, u64)> {
    let mut v: Vec<(K, u64)> = counts.into_iter().collect();
    v.sort_by_key(|(k, n)| (std::cmp::Reverse(*n), k.clone()));
    if v.len() > top {
        let rest: u64 = v[top..].iter().map(|(_, n)| n).sum();
        v.truncate(top);
        v.push((other, rest));
    }
    v
}

/// Connection ends seen by `serve --trace`'s tracer since it started:
/// (process that closed, how it ended) -> count, and the ends lost.
#[derive(Clone, Debug, Default)]
pub struct TracedEnds {
    pub by_closer: BTreeMap<(String, EndKind), u64>,
    pub lost: u64,
}

impl TracedEnds {
    /// Distinct process names kept before the rest count as "other".
    pub const MAX_PROCESSES: usize = 100;

    pub fn add(&mut self, e: &ConnectionEnd) {
        let mut who = e
            .closer
            .as_ref()
            .map_or_else(|| "unknown".to_string(), |c| c.comm.clone());
        let known = self.by_closer.keys().any(|(p, _)| *p == who);
        if !known {
            let distinct: std::collections::BTreeSet<&String> =
                self.by_closer.keys().map(|(p, _)| p).collect();
            if distinct.len() >= Self::MAX_PROCESSES {
                who = "other".into();
            }
        }
        *self.by_closer.entry((who, e.end)).or_insert(0) += 1;
    }
}

/// The families of `serve --trace`, appended to the /metrics body.
pub fn render_traced(t: &TracedEnds, out: &mut String) {
    {
        let mut f = Family::new(
            out,
            "tcpdoctor_connection_ends_total",
            "counter",
            "Connections ended since the tracer started, per name of the process that closed \
                them (exact, from the kernel) and how they ended: closed_first (TIME_WAIT on \
                this host), closed_last (the peer's TIME_WAIT), reset.",
        );
        for ((p, end), n) in &t.by_closer {
            let end = match end {
                EndKind::ClosedFirst => "closed_first",
                EndKind::ClosedLast => "closed_last",
                EndKind::Reset => "reset",
            };
            f.sample(&[("process", p), ("end", end)], *n as f64);
        }
    }
    let mut f = Family::new(
        out,
        "tcpdoctor_connection_ends_lost_total",
        "counter",
        "Connection ends the tracer's ring had no room for.",
    );
    f.sample(&[], t.lost as f64);
}

/// How the closer of a TIME_WAIT socket is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Attributed {
    /// A tracer saw the close.
    Exact,
    /// Inferred from listeners and connections to the same upstream.
    Likely,
    Unknown,
}

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

fn comm(snap: &Snapshot, pid: u32) -> String {
    snap.owners
        .process(pid)
        .map_or_else(|| "unknown".to_string(), |p| p.comm.clone())
}

/// The full metrics of a snapshot and its diagnosis (made by the caller
/// from the same rows), its rows built here.
pub fn full_metrics(snap: &Snapshot, diagnosis: Diagnosis, top: usize) -> FullMetrics {
    let rows = rows_by_namespace(snap);
    full_metrics_on_rows(snap, &rows, snap.trends.as_deref(), diagnosis, top)
}

/// As [`full_metrics`], on the snapshot's rows built already and with its
/// trends given apart (the exporter computes the trends and the
/// diagnosis from the same rows just before).
pub fn full_metrics_on_rows(
    snap: &Snapshot,
    rows: &[Vec<SocketRow<'_>>],
    trends: Option<&Trends>,
    diagnosis: Diagnosis,
    top: usize,
) -> FullMetrics {
    let mut full = FullMetricsBuilder::new(snap, trends, top);
    for (ns, ns_rows) in snap.namespaces.iter().zip(rows) {
        full.add_namespace(ns, ns_rows);
    }
    full.finish(diagnosis)
}

/// The full metrics, built namespace by namespace, then finished with the
/// diagnosis.
struct FullMetricsBuilder<'s> {
    snap: &'s Snapshot,
    trends: Option<&'s Trends>,
    top: usize,
    m: FullMetrics,
    /// Every tuple's port use (netns, local ip, remote, ratio), whether or
    /// not a finding fired for it; the highest `top` are kept at the end.
    ports: Vec<(String, String, String, f64)>,
}

impl<'s> FullMetricsBuilder<'s> {
    fn new(snap: &'s Snapshot, trends: Option<&'s Trends>, top: usize) -> FullMetricsBuilder<'s> {
        FullMetricsBuilder {
            snap,
            trends,
            top,
            m: FullMetrics::default(),
            ports: Vec::new(),
        }
    }

    /// Adds one namespace of the snapshot, from its rows.
    fn add_namespace(&mut self, nsnap: &NsSnapshot, rows: &[SocketRow<'_>]) {
        let (snap, top) = (self.snap, self.top);
        let ns = if snap.namespaces.len() > 1 {
            nsnap.netns.short_label()
        } else {
            String::new()
        };
        let mut cw: BTreeMap<String, u64> = BTreeMap::new();
        let mut tw_owned: BTreeMap<(String, Attributed), u64> = BTreeMap::new();
        for r in rows {
            match r.socket.state {
                TcpState::CloseWait => {
                    let who = r
                        .owners
                        .first()
                        .map_or_else(|| "unknown".to_string(), |o| comm(snap, o.pid));
                    *cw.entry(who).or_insert(0) += 1;
                }
                TcpState::TimeWait => {
                    let who = match (r.closed_by, r.likely_owners.first()) {
                        (Some(c), _) => (c.comm.clone(), Attributed::Exact),
                        (None, Some(p)) => (comm(snap, *p), Attributed::Likely),
                        (None, None) => ("unknown".to_string(), Attributed::Unknown),
                    };
                    *tw_owned.entry(who).or_insert(0) += 1;
                }
                _ => {}
            }
        }
        self.m.close_wait.extend(
            cap(cw, top, "other".into())
                .into_iter()
                .map(|(p, n)| (ns.clone(), p, n)),
        );
        self.m.time_wait.extend(
            cap(tw_owned, top, ("other".into(), Attributed::Unknown))
                .into_iter()
                .map(|((p, how), n)| (ns.clone(), p, how, n)),
        );
        for t in tuple_usage(rows, &nsnap.host) {
            self.ports.push((
                ns.clone(),
                t.local_ip.to_string(),
                t.remote.to_string(),
                t.ratio(),
            ));
        }
    }

    fn finish(self, diagnosis: Diagnosis) -> FullMetrics {
        let (mut m, mut ports, top) = (self.m, self.ports, self.top);
        m.diagnosis = Some(diagnosis);
        ports.sort_by(|a, b| b.3.total_cmp(&a.3));
        ports.truncate(top);
        m.port_utilization = ports;
        let mut fds: Vec<(String, u32, f64)> = self
            .snap
            .owners
            .processes
            .values()
            .filter_map(|p| {
                Some((
                    p.comm.clone(),
                    p.pid,
                    f64::from(p.fd_count) / p.nofile_soft.filter(|n| *n > 0)? as f64,
                ))
            })
            .collect();
        fds.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.1.cmp(&b.1)));
        fds.truncate(top);
        m.fd_utilization = fds;
        if let Some(t) = self.trends {
            m.trend_window_s = t.window_s;
            let mut growth: Vec<(String, u32, f64)> = t
                .processes
                .iter()
                .filter_map(|p| Some((p.comm.clone(), p.pid, p.close_wait_growth_per_min?)))
                .filter(|(_, _, g)| *g != 0.0)
                .collect();
            growth.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.1.cmp(&b.1)));
            growth.truncate(top);
            m.close_wait_growth = growth;
            let mut fd_left: Vec<(String, u32, f64)> = t
                .processes
                .iter()
                .filter_map(|p| Some((p.comm.clone(), p.pid, p.time_to_fd_limit_s?)))
                .collect();
            fd_left.sort_by(|a, b| a.2.total_cmp(&b.2).then(a.1.cmp(&b.1)));
            fd_left.truncate(top);
            m.fd_exhaustion_s = fd_left;
            let mut ports_left: Vec<(String, String, f64)> = t
                .upstreams
                .iter()
                .filter_map(|u| {
                    Some((
                        u.local_ip.to_string(),
                        u.remote.to_string(),
                        u.time_to_exhaustion_s?,
                    ))
                })
                .collect();
            ports_left.sort_by(|a, b| a.2.total_cmp(&b.2));
            ports_left.truncate(top);
            m.port_exhaustion_s = ports_left;
        }
        m
    }
}

/// Writes every family.
pub fn render(fast: &[FastSample], full: &FullMetrics, collectors: &[(&str, bool, f64)]) -> String {
    let mut out = String::with_capacity(16 * 1024);
    {
        let mut f = Family::new(
            &mut out,
            "tcpdoctor_sockets",
            "gauge",
            "TCP sockets per state (sock_diag census), per network namespace.",
        );
        for s in fast {
            for st in TcpState::ALL {
                let n = s.states.get(&st).copied().unwrap_or(0);
                f.sample(
                    &[("netns", &s.netns), ("state", st.netstat_name())],
                    n as f64,
                );
            }
        }
    }
    {
        let mut f = Family::new(
            &mut out,
            "tcpdoctor_sockstat",
            "gauge",
            "/proc/net/sockstat TCP figures: inuse, orphan, tw, alloc, mem (pages).",
        );
        for s in fast {
            if let Some(ss) = s.host.sockstat {
                for (k, v) in [
                    ("inuse", ss.inuse),
                    ("orphan", ss.orphan),
                    ("tw", ss.tw),
                    ("alloc", ss.alloc),
                    ("mem", ss.mem_pages),
                ] {
                    f.sample(&[("netns", &s.netns), ("field", k)], v as f64);
                }
            }
        }
    }
    {
        let mut f = Family::new(
            &mut out,
            "tcpdoctor_netstat_tcpext_total",
            "counter",
            "Selected /proc/net/netstat TcpExt counters.",
        );
        for s in fast {
            for c in COUNTERS_THAT_MATTER {
                if let Some(v) = s.host.tcp_ext.get(*c) {
                    f.sample(&[("netns", &s.netns), ("counter", c)], *v as f64);
                }
            }
        }
    }
    {
        let mut f = Family::new(
            &mut out,
            "tcpdoctor_snmp_tcp_total",
            "counter",
            "Selected /proc/net/snmp Tcp counters.",
        );
        for s in fast {
            for c in TCP_COUNTERS_THAT_MATTER {
                if let Some(v) = s.host.tcp.get(*c) {
                    f.sample(&[("netns", &s.netns), ("counter", c)], *v as f64);
                }
            }
        }
    }
    {
        let mut f = Family::new(
            &mut out,
            "tcpdoctor_sysctl",
            "gauge",
            "Numeric TCP sysctls that the rules use.",
        );
        for s in fast {
            for k in [
                "net.ipv4.tcp_max_tw_buckets",
                "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_tw_reuse",
                "net.ipv4.tcp_max_syn_backlog",
                "net.core.somaxconn",
                "net.ipv4.tcp_syncookies",
            ] {
                if let Some(v) = s.host.sysctl_i64(k) {
                    f.sample(&[("netns", &s.netns), ("name", k)], v as f64);
                }
            }
        }
    }
    {
        let mut f = Family::new(
            &mut out,
            "tcpdoctor_close_wait_sockets",
            "gauge",
            "CLOSE_WAIT sockets per owning process name (top N, then other).",
        );
        for (ns, p, n) in &full.close_wait {
            f.sample(&[("netns", ns), ("process", p)], *n as f64);
        }
    }
    {
        let mut f = Family::new(
            &mut out,
            "tcpdoctor_time_wait_sockets",
            "gauge",
            "TIME_WAIT sockets per name of the process that closed them (top N, then other): \
                exact=true when a tracer saw the close (serve --trace), likely=true when inferred.",
        );
        for (ns, p, how, n) in &full.time_wait {
            let yes = |b: bool| if b { "true" } else { "false" };
            f.sample(
                &[
                    ("netns", ns),
                    ("process", p),
                    ("likely", yes(*how == Attributed::Likely)),
                    ("exact", yes(*how == Attributed::Exact)),
                ],
                *n as f64,
            );
        }
    }
    {
        let mut f = Family::new(
            &mut out,
            "tcpdoctor_port_utilization_ratio",
            "gauge",
            "Share of usable ephemeral ports one (local IP, remote) holds (top N).",
        );
        for (ns, lip, remote, r) in &full.port_utilization {
            f.sample(&[("netns", ns), ("local_ip", lip), ("remote", remote)], *r);
        }
    }
    process_gauge(
        &mut out,
        "tcpdoctor_process_fd_utilization_ratio",
        "Open fds over RLIMIT_NOFILE for processes holding TCP sockets (top N).",
        &full.fd_utilization,
        |r| r,
    );
    process_gauge(
        &mut out,
        "tcpdoctor_close_wait_growth_per_minute",
        "Net CLOSE_WAIT growth of a process per minute, by socket cookie (new minus gone) \
            over tcpdoctor_trend_window_seconds of the exporter's refreshes (top N).",
        &full.close_wait_growth,
        |g| g,
    );
    process_gauge(
        &mut out,
        "tcpdoctor_fd_exhaustion_seconds",
        "Seconds until a process's open fds reach RLIMIT_NOFILE at their growth over the \
            trend window (only processes whose fds grow).",
        &full.fd_exhaustion_s,
        f64::round,
    );
    {
        let mut f = Family::new(
            &mut out,
            "tcpdoctor_port_exhaustion_seconds",
            "gauge",
            "Seconds until a (local IP, remote) tuple uses every usable ephemeral port at its \
                growth over the trend window (only growing ones).",
        );
        for (lip, remote, s) in &full.port_exhaustion_s {
            f.sample(&[("local_ip", lip), ("remote", remote)], s.round());
        }
    }
    {
        let mut f = Family::new(
            &mut out,
            "tcpdoctor_trend_window_seconds",
            "gauge",
            "The measured window the growth and exhaustion figures are over (0 before the \
                exporter's second refresh).",
        );
        f.sample(&[], full.trend_window_s);
    }
    {
        let mut f = Family::new(
            &mut out,
            "tcpdoctor_finding",
            "gauge",
            "Current diagnose findings (1 each).",
        );
        if let Some(d) = &full.diagnosis {
            for x in &d.findings {
                f.sample(
                    &[
                        ("id", x.id),
                        ("severity", x.severity.name()),
                        ("subject", &x.subject),
                        ("netns", x.netns.as_deref().unwrap_or("")),
                    ],
                    1.0,
                );
            }
        }
    }
    {
        let mut f = Family::new(
            &mut out,
            "tcpdoctor_full_refresh_timestamp_seconds",
            "gauge",
            "When owners and findings were last computed (they are cached between --full-interval \
                refreshes).",
        );
        f.sample(&[], full.refreshed_unix as f64);
    }
    {
        let mut f = Family::new(
            &mut out,
            "tcpdoctor_full_refresh_duration_seconds",
            "gauge",
            "How long the last full refresh took.",
        );
        f.sample(&[], full.duration_s);
    }
    {
        let mut f = Family::new(
            &mut out,
            "tcpdoctor_scrape_collector_success",
            "gauge",
            "Whether a collector succeeded in this scrape.",
        );
        for (c, ok, _) in collectors {
            f.sample(&[("collector", c)], if *ok { 1.0 } else { 0.0 });
        }
    }
    {
        let mut f = Family::new(
            &mut out,
            "tcpdoctor_scrape_collector_duration_seconds",
            "gauge",
            "How long a collector took in this scrape.",
        );
        for (c, _, d) in collectors {
            f.sample(&[("collector", c)], *d);
        }
    }
    {
        let mut f = Family::new(
            &mut out,
            "tcpdoctor_build_info",
            "gauge",
            "tcpdoctor's version.",
        );
        f.sample(&[("version", env!("CARGO_PKG_VERSION"))], 1.0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let mut out = String::new();
        Family::new(&mut out, "x", "gauge", "help").sample(&[("k", "v\"")], 1.5);
        assert_eq!(out, "# HELP x help\n# TYPE x gauge\nx{k=\"v\\\"\"} 1.5\n");
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
}
