//! `tcpdoctor serve`: a Prometheus exporter. Every scrape takes a census
//! and reads sockstat and the counters of each namespace (shared by scrapes
//! that arrive within a second); owners and findings cost far more, so a
//! background thread recomputes them every --full-interval and scrapes
//! read that cache. With --trace, a tracer runs for the exporter's life.

pub mod http;

use crate::error::Result;
use crate::model::NamespaceCount;
use crate::model::NetnsSelector;
use crate::ops::{self, Observer, ObserverOptions, ProcRoot, Thresholds, TraceSession};
use crate::render::prometheus::{self as metrics, FullMetrics, TracedEnds};
use std::collections::BTreeMap;
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
    /// Serve processes' full command lines (on `/`, in findings). Off by
    /// default: arguments may hold secrets; then only argv[0]'s base name.
    pub show_cmdline: bool,
}

/// How often `serve --trace` drains the tracer's ring.
const TRACE_DRAIN_EVERY: Duration = Duration::from_secs(1);

impl Default for ExporterOptions {
    fn default() -> Self {
        ExporterOptions {
            netns: NetnsSelector::Current,
            full_interval: Duration::from_secs(30),
            top: 10,
            thresholds: Thresholds::default(),
            census_max_age: Duration::from_secs(1),
            show_cmdline: false,
        }
    }
}

/// What one scrape measured: samples per namespace, and per collector
/// (name, success, seconds).
struct Scrape {
    pub samples: Vec<NamespaceCount>,
    pub collectors: Vec<(&'static str, bool, f64)>,
}

/// The last outcome of the full refresh: whether it worked and how long
/// it took.
#[derive(Clone, Copy, Debug, Default)]
struct FullOutcome {
    ok: bool,
    seconds: f64,
}

/// The exporter's state, shared by the HTTP threads and the refresher.
pub struct Exporter {
    opts: ExporterOptions,
    root: ProcRoot,
    full: RwLock<Arc<FullMetrics>>,
    full_outcome: RwLock<FullOutcome>,
    fast: Mutex<Option<(Instant, Arc<Scrape>)>>,
    /// The last error each collector logged, so that a failing collector
    /// is logged when its error changes, not on every scrape (as
    /// node_exporter does).
    logged: Mutex<BTreeMap<&'static str, String>>,
    /// Connection ends by closer, while `start_tracer` runs one.
    traced: Mutex<Option<TracedEnds>>,
    /// The full refreshes, with growth across them (by socket cookie).
    observer: Mutex<Observer>,
}

/// The window the exporter's growth rates are taken over.
const TREND_WINDOW: Duration = Duration::from_secs(600);

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Exporter {
    pub fn new(root: ProcRoot, opts: ExporterOptions) -> Arc<Exporter> {
        let observer = Observer::new(
            &root,
            ObserverOptions {
                netns: opts.netns.clone(),
                interval: opts.full_interval,
                window: TREND_WINDOW,
                thresholds: opts.thresholds.clone(),
                top: opts.top,
                hide_arguments: !opts.show_cmdline,
                // The exporter traces only when asked (`serve --trace`).
                trace_closers: false,
            },
        );
        Arc::new(Exporter {
            observer: Mutex::new(observer),
            opts,
            root,
            full: RwLock::new(Arc::new(FullMetrics::default())),
            full_outcome: RwLock::new(FullOutcome::default()),
            fast: Mutex::new(None),
            logged: Mutex::new(BTreeMap::new()),
            traced: Mutex::new(None),
        })
    }

    /// Traces connection closes for the exporter's whole life: TIME_WAIT
    /// closers become exact in every refresh, and connection ends are
    /// counted per closing process. Fails when eBPF cannot be used here.
    pub fn start_tracer(self: &Arc<Self>) -> Result<()> {
        // Only the namespaces served: another namespace's connections are
        // not this exporter's to count.
        let mut tracer = TraceSession::start(&self.root, &self.opts.netns)?.without_summary();
        if let Ok(mut t) = self.traced.lock() {
            *t = Some(TracedEnds::default());
        }
        let me = Arc::clone(self);
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(TRACE_DRAIN_EVERY);
                let ends = tracer.drain();
                me.log_outcome("trace", ends.as_ref().err().map(|e| e.to_string()));
                let lost = tracer.lost();
                if let (Ok(ends), Ok(mut t)) = (ends, me.traced.lock())
                    && let Some(t) = t.as_mut()
                {
                    for e in &ends {
                        t.add(e, tracer.netns_label(e.netns).as_deref().unwrap_or(""));
                    }
                    t.lost = lost;
                }
            }
        });
        Ok(())
    }

    /// Logs a collector's error to stderr when it differs from the last
    /// one it logged, and "recovered" when it works again.
    fn log_outcome(&self, collector: &'static str, error: Option<String>) {
        let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
        match error {
            Some(e) if logged.get(collector) != Some(&e) => {
                eprintln!("tcpdoctor: collector {collector} failed: {e}");
                logged.insert(collector, e);
            }
            None if logged.remove(collector).is_some() => {
                eprintln!("tcpdoctor: collector {collector} works again");
            }
            _ => {}
        }
    }

    /// Recomputes owners and findings once.
    pub fn refresh_full(&self) {
        let started = Instant::now();
        let top = self.opts.top;
        let result = match self.observer.lock() {
            Ok(mut observer) => observer.refresh(|snap, rows, trends, diagnosis| {
                metrics::full_metrics_on_rows(snap, rows, Some(trends), diagnosis, top)
            }),
            Err(_) => Err(crate::Error::Unsupported(
                "a refresh panicked: the trends are lost".into(),
            )),
        };
        let seconds = started.elapsed().as_secs_f64();
        let ok = result.is_ok();
        match result {
            Ok(mut m) => {
                m.refreshed_unix = now_unix();
                m.duration_s = seconds;
                if let Ok(mut w) = self.full.write() {
                    *w = Arc::new(m);
                }
                self.log_outcome("full", None);
            }
            Err(e) => self.log_outcome("full", Some(e.to_string())),
        }
        if let Ok(mut w) = self.full_outcome.write() {
            *w = FullOutcome { ok, seconds };
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
        let t = Instant::now();
        let counted = ops::count_states(&self.root, &self.opts.netns);
        let total = t.elapsed().as_secs_f64();
        let samples = counted.namespaces;
        let (census_error, host_error, host_time) = (
            counted.census_error,
            counted.counters_error,
            counted.counters_s,
        );
        let full = self.full_outcome.read().map(|v| *v).unwrap_or_default();
        let collectors = vec![
            ("census", census_error.is_none(), total - host_time),
            ("counters", host_error.is_none(), host_time),
            ("full", full.ok, full.seconds),
        ];
        self.log_outcome("census", census_error);
        self.log_outcome("counters", host_error);
        let v = Arc::new(Scrape {
            samples,
            collectors,
        });
        *guard = Some((Instant::now(), Arc::clone(&v)));
        v
    }

    /// The /metrics body.
    pub(crate) fn metrics(&self) -> String {
        let fast = self.fast_samples();
        let full = self.full.read().map(|f| Arc::clone(&f)).unwrap_or_default();
        let mut body = metrics::render(&fast.samples, &full, &fast.collectors);
        if let Ok(t) = self.traced.lock()
            && let Some(t) = t.as_ref()
        {
            metrics::render_traced(t, &mut body);
        }
        body
    }

    /// The / page: current findings and a link to the metrics.
    pub(crate) fn html(&self) -> String {
        let full = self.full.read().map(|f| Arc::clone(&f)).unwrap_or_default();
        let netns = match &self.opts.netns {
            NetnsSelector::Current => "current".to_string(),
            NetnsSelector::All => "all".to_string(),
            other => format!("{other:?}"),
        };
        crate::render::html::findings_page(
            full.diagnosis.as_ref(),
            &crate::render::html::PageInfo {
                netns: &netns,
                refreshed_unix: full.refreshed_unix,
                duration_s: full.duration_s,
            },
        )
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
