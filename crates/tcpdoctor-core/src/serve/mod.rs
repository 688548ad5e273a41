//! `tcpdoctor serve`: a Prometheus exporter. Every scrape takes a census
//! and reads sockstat and the counters of each namespace (shared by scrapes
//! that arrive within a second); owners and findings cost far more, so a
//! background thread recomputes them every --full-interval and scrapes
//! read that cache.

pub mod http;

use crate::collect::plan::{self, SnapshotPlan};
use crate::collect::{self, ProcRoot, SocketQuery, SourceChoice, netns};
use crate::diagnose::{self, Selection, Thresholds};
use crate::model::{Census, NetnsSelector};
use crate::render::prometheus::{self as metrics, FastSample, FullMetrics};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How the exporter runs.
#[derive(Clone, Debug)]
pub struct ExporterOptions {
    pub netns: NetnsSelector,
    pub full_interval: Duration,
    /// Label values kept per family before "other".
    pub top: usize,
    pub thresholds: Thresholds,
    /// Scrapes within this age share one census.
    pub census_max_age: Duration,
}

impl Default for ExporterOptions {
    fn default() -> Self {
        ExporterOptions {
            netns: NetnsSelector::Current,
            full_interval: Duration::from_secs(30),
            top: 10,
            thresholds: Thresholds::default(),
            census_max_age: Duration::from_secs(1),
        }
    }
}

/// What one scrape measured: samples per namespace, and per collector
/// (name, success, seconds).
pub struct Scrape {
    pub samples: Vec<FastSample>,
    pub collectors: Vec<(&'static str, bool, f64)>,
}

/// The exporter's state, shared by the HTTP threads and the refresher.
pub struct Exporter {
    opts: ExporterOptions,
    root: ProcRoot,
    full: RwLock<Arc<FullMetrics>>,
    full_ok: RwLock<bool>,
    fast: Mutex<Option<(Instant, Arc<Scrape>)>>,
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Exporter {
    pub fn new(root: ProcRoot, opts: ExporterOptions) -> Arc<Exporter> {
        Arc::new(Exporter {
            opts,
            root,
            full: RwLock::new(Arc::new(FullMetrics::default())),
            full_ok: RwLock::new(false),
            fast: Mutex::new(None),
        })
    }

    /// Recomputes owners and findings once.
    pub fn refresh_full(&self) {
        let started = Instant::now();
        let plan = SnapshotPlan {
            interval: Duration::ZERO,
            ..SnapshotPlan::new(Selection::All.needs())
        };
        let result = plan::snapshot(&self.root, &self.opts.netns, &plan).map(|snap| {
            let diagnosis = diagnose::run(&snap, &self.opts.thresholds, Selection::All);
            metrics::full_metrics(&snap, diagnosis, self.opts.top)
        });
        let ok = result.is_ok();
        if let Ok(mut m) = result {
            m.refreshed_unix = now_unix();
            m.duration_s = started.elapsed().as_secs_f64();
            if let Ok(mut w) = self.full.write() {
                *w = Arc::new(m);
            }
        }
        if let Ok(mut w) = self.full_ok.write() {
            *w = ok;
        }
    }

    /// Starts the background refresher.
    pub fn start_refresher(self: &Arc<Self>) {
        let me = Arc::clone(self);
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(me.opts.full_interval);
                me.refresh_full();
            }
        });
    }

    fn fast_samples(&self) -> Arc<Scrape> {
        let Ok(mut guard) = self.fast.lock() else {
            return Arc::new(Scrape {
                samples: Vec::new(),
                collectors: vec![("census", false, 0.0)],
            });
        };
        if let Some((at, cached)) = guard.as_ref()
            && at.elapsed() < self.opts.census_max_age
        {
            return Arc::clone(cached);
        }
        let mut samples = Vec::new();
        let (mut census_ok, mut host_ok) = (true, true);
        let t = Instant::now();
        let mut host_time = 0.0;
        match netns::resolve(&self.root, &self.opts.netns) {
            Ok((list, _)) => {
                let several = list.len() > 1;
                for ns in list {
                    let label = if several {
                        ns.short_label()
                    } else {
                        String::new()
                    };
                    let r = netns::run_in(&ns, || {
                        let mut c = Census::new(None);
                        let ok = collect::collect_sockets(
                            &self.root,
                            &SocketQuery::default(),
                            SourceChoice::Auto,
                            &mut c,
                        )
                        .is_ok();
                        let h = Instant::now();
                        let host = collect::host::read_host_info(&self.root);
                        (c, ok, host, h.elapsed().as_secs_f64())
                    });
                    match r {
                        Ok((c, ok, host, ht)) => {
                            census_ok &= ok;
                            host_ok &= host.sockstat.is_some() && !host.tcp_ext.is_empty();
                            host_time += ht;
                            samples.push(FastSample {
                                netns: label,
                                states: c.states().into_iter().collect(),
                                host,
                            });
                        }
                        Err(_) => census_ok = false,
                    }
                }
            }
            Err(_) => census_ok = false,
        }
        let full_ok = self.full_ok.read().map(|v| *v).unwrap_or(false);
        let total = t.elapsed().as_secs_f64();
        let collectors = vec![
            ("census", census_ok, total - host_time),
            ("counters", host_ok, host_time),
            ("full", full_ok, 0.0),
        ];
        let v = Arc::new(Scrape {
            samples,
            collectors,
        });
        *guard = Some((Instant::now(), Arc::clone(&v)));
        v
    }

    /// The /metrics body.
    pub fn metrics(&self) -> String {
        let fast = self.fast_samples();
        let full = self.full.read().map(|f| Arc::clone(&f)).unwrap_or_default();
        metrics::render(&fast.samples, &full, &fast.collectors)
    }

    /// The / page: current findings and a link to the metrics.
    pub fn html(&self) -> String {
        let full = self.full.read().map(|f| Arc::clone(&f)).unwrap_or_default();
        crate::render::html::findings_page(full.diagnosis.as_ref())
    }

    /// Routes a path.
    pub fn handle(&self, path: &str) -> http::Response {
        match path {
            "/metrics" => http::Response {
                status: 200,
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                body: self.metrics().into_bytes(),
            },
            "/healthz" => http::Response::text(200, "ok\n"),
            "/" => http::Response {
                status: 200,
                content_type: "text/html; charset=utf-8",
                body: self.html().into_bytes(),
            },
            _ => http::Response::text(404, "not found: try /metrics, /healthz or /\n"),
        }
    }
}
