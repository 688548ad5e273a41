//! Times one large /metrics body written three ways: tcpdoctor's own
//! writer (`render`), and prometheus-client's text encoder fed either the
//! way its docs show (a registry of owned `Family<labels, Gauge>` rebuilt
//! per scrape, since series come and go between refreshes) or the way an
//! exporter would (a `Collector` of `ConstGauge`s over the cached
//! figures). 5,000 process series and 10,000 port series, as a busy host
//! with `--top` raised would have.
//!
//! `cargo run --release -p tcpdoctor-core --example exposition_bench`
//! (the figures are in render/prometheus/writer.rs).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode_registry;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;
use tcpdoctor_core::render::prometheus::{FullMetrics, escape, render};

const PROCESSES: usize = 5_000;
const PORTS: usize = 10_000;
const RUNS: usize = 40;
const FD_HELP: &str = "Open fds over RLIMIT_NOFILE for processes holding TCP sockets (top N).";
const PORT_HELP: &str = "Share of usable ephemeral ports one (local IP, remote) holds (top N).";

fn figures() -> FullMetrics {
    FullMetrics {
        fd_utilization: (0..PROCESSES)
            .map(|i| {
                let name = format!("worker-{}", i % 97);
                (name, 10_000 + i as u32, (i % 1000) as f64 / 1024.0)
            })
            .collect(),
        port_utilization: (0..PORTS)
            .map(|i| {
                let local = format!("10.0.{}.{}", i / 250 % 256, i % 250);
                let remote = format!("10.1.{}.{}:5432", i / 200 % 256, i % 200);
                (String::new(), local, remote, (i % 28_232) as f64 / 28_232.0)
            })
            .collect(),
        ..FullMetrics::default()
    }
}

/// A label value escaped as the exposition format wants: prometheus-client
/// writes `&str` and `String` values as they are.
struct Escaped<'a>(&'a str);

impl EncodeLabelValue for Escaped<'_> {
    fn encode(&self, e: &mut LabelValueEncoder) -> std::fmt::Result {
        if self.0.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
            e.write_str(&escape(self.0))
        } else {
            e.write_str(self.0)
        }
    }
}

/// The documented way: owned label sets and metric objects per series.
fn owned_registry(full: &FullMetrics) -> String {
    let mut reg = Registry::default();
    let fds = Family::<Vec<(&'static str, String)>, Gauge<f64, AtomicU64>>::default();
    for (p, pid, r) in &full.fd_utilization {
        let labels = vec![("process", p.clone()), ("pid", pid.to_string())];
        fds.get_or_create(&labels).set(*r);
    }
    reg.register("tcpdoctor_process_fd_utilization_ratio", FD_HELP, fds);
    let ports = Family::<Vec<(&'static str, String)>, Gauge<f64, AtomicU64>>::default();
    for (ns, lip, remote, r) in &full.port_utilization {
        let labels = vec![
            ("netns", ns.clone()),
            ("local_ip", lip.clone()),
            ("remote", remote.clone()),
        ];
        ports.get_or_create(&labels).set(*r);
    }
    reg.register("tcpdoctor_port_utilization_ratio", PORT_HELP, ports);
    let mut out = String::with_capacity(16 * 1024);
    encode_registry(&mut out, &reg).expect("encodes into a String");
    out
}

/// The exporter's way: one collector over the cached figures.
#[derive(Debug)]
struct Cached(Arc<FullMetrics>);

impl Collector for Cached {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        {
            let name = "tcpdoctor_process_fd_utilization_ratio";
            let mut m = encoder.encode_descriptor(name, FD_HELP, None, MetricType::Gauge)?;
            let mut pid = String::new();
            for (p, n, r) in &self.0.fd_utilization {
                pid.clear();
                write!(pid, "{n}")?;
                let labels = [("process", Escaped(p)), ("pid", Escaped(&pid))];
                ConstGauge::new(*r).encode(m.encode_family(&labels)?)?;
            }
        }
        let name = "tcpdoctor_port_utilization_ratio";
        let mut m = encoder.encode_descriptor(name, PORT_HELP, None, MetricType::Gauge)?;
        for (ns, lip, remote, r) in &self.0.port_utilization {
            let labels = [
                ("netns", Escaped(ns)),
                ("local_ip", Escaped(lip)),
                ("remote", Escaped(remote)),
            ];
            ConstGauge::new(*r).encode(m.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

fn collector_registry(full: &Arc<FullMetrics>) -> String {
    let mut reg = Registry::default();
    reg.register_collector(Box::new(Cached(Arc::clone(full))));
    let mut out = String::with_capacity(16 * 1024);
    encode_registry(&mut out, &reg).expect("encodes into a String");
    out
}

/// Median and fastest of `RUNS` runs, in milliseconds, after a warm-up.
fn time(what: &str, f: &mut dyn FnMut() -> String) -> String {
    for _ in 0..3 {
        black_box(f());
    }
    let mut ms: Vec<f64> = Vec::with_capacity(RUNS);
    let mut body = String::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        body = black_box(f());
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    println!(
        "{what:<44} median {:7.2} ms  min {:7.2} ms  {:>8} bytes",
        ms[RUNS / 2],
        ms[0],
        body.len()
    );
    body
}

/// The sample lines of the two families, sorted (the owned registry writes
/// its series in hash order).
fn samples(body: &str) -> Vec<&str> {
    let mut v: Vec<&str> = body
        .lines()
        .filter(|l| {
            l.starts_with("tcpdoctor_process_fd_utilization_ratio{")
                || l.starts_with("tcpdoctor_port_utilization_ratio{")
        })
        .collect();
    v.sort_unstable();
    v
}

fn main() {
    let full = Arc::new(figures());
    println!("{PROCESSES} process series + {PORTS} port series, {RUNS} runs each");
    let ours = time("hand-written writer (render, 19 families)", &mut || {
        render(&[], &full, &[])
    });
    let owned = time("prometheus-client, owned Family<_, Gauge>", &mut || {
        owned_registry(&full)
    });
    let collected = time("prometheus-client, Collector of ConstGauge", &mut || {
        collector_registry(&full)
    });
    let ours = samples(&ours);
    for (what, body) in [("owned", &owned), ("collector", &collected)] {
        let theirs = samples(body);
        let differ = ours
            .iter()
            .filter(|l| theirs.binary_search(l).is_err())
            .count();
        println!(
            "{what}: {differ} of {} sample lines differ from ours; HELP ends with '.': {}",
            ours.len(),
            body.contains("(top N)..")
        );
        // One whole value and one fraction that are written differently.
        for whole in [true, false] {
            let a = ours
                .iter()
                .find(|l| l.ends_with(" 0") == whole && theirs.binary_search(l).is_err());
            let series = |l: &str| l.rsplit_once(' ').map(|(s, _)| s.to_string());
            let b = a.and_then(|a| {
                let s = series(a)?;
                theirs.iter().find(|l| series(l).as_ref() == Some(&s))
            });
            if let (Some(a), Some(b)) = (a, b) {
                println!("  e.g. ours   {a}\n       theirs {b}");
            }
        }
    }
}
