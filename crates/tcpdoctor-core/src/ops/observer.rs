//! The host over time, one observer for every front end that watches:
//! `watch` (and its recording), `diagnose --for` and `snapshot --for`,
//! the exporter's refresh. It counts the states every step, takes a
//! detailed snapshot as often as its cost allows, tracks the trends over
//! the whole (untruncated) population, and judges them with the rules;
//! only what is shown is cut to `top`.

use super::{Progress, start_tracer, untraced_note};
use crate::collect::ProcRoot;
use crate::collect::bpf::Unavailable;
use crate::collect::bpf::closers::Tracer;
use crate::collect::plan::{self, SnapshotPlan};
use crate::collect::watch::{Observed, Watcher};
use crate::diagnose::{self, Diagnosis, Selection, Thresholds};
use crate::error::{Error, Result};
use crate::model::{
    CloseTracing, FindingRow, NetnsSelector, Sample, Snapshot, SocketRow, TrendTracker, Trends,
    rows_by_namespace,
};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How an observer looks and judges.
#[derive(Clone, Debug)]
pub struct ObserverOptions {
    pub netns: NetnsSelector,
    /// Time between steps (the caller paces them; this sizes how often a
    /// detailed snapshot may be taken).
    pub interval: Duration,
    /// The window growth rates and predictions are taken over.
    pub window: Duration,
    pub thresholds: Thresholds,
    /// Rows per table in the samples shown (the rules see them all).
    pub top: usize,
    /// Leave command lines out of the owners (what is served over the
    /// network must not reveal them).
    pub hide_arguments: bool,
    /// Trace who closes connections for as long as the observer lives
    /// (`watch`), so that its TIME_WAIT closers are exact.
    pub trace_closers: bool,
}

impl Default for ObserverOptions {
    fn default() -> Self {
        ObserverOptions {
            netns: NetnsSelector::Current,
            interval: Duration::from_secs(1),
            window: Duration::from_secs(60),
            thresholds: Thresholds::default(),
            top: 50,
            hide_arguments: false,
            trace_closers: false,
        }
    }
}

/// A detailed step: the snapshot, its trends and their diagnosis.
pub struct Detail {
    /// Carries the trends (`Snapshot::trends`), as a snapshot file does.
    pub snapshot: Snapshot,
    pub diagnosis: Diagnosis,
}

/// One step of `watch`: the sample shown (tables cut to `top`, findings
/// judged on everything), and the detail when this step took one.
pub struct Observation {
    pub sample: Sample,
    pub detail: Option<Box<Detail>>,
}

pub struct Observer {
    root: ProcRoot,
    opts: ObserverOptions,
    watcher: Watcher,
    tracker: TrendTracker,
    last: Option<Sample>,
    /// The counters of every namespace at the previous refresh, and when
    /// they were read: the exporter's rates are over the time since.
    refreshed: Option<(Instant, Counters)>,
    /// The tracer kept while the observer lives, and when it started; or
    /// why it could not start. None when not asked for.
    tracer: Option<std::result::Result<(Tracer, Instant), Unavailable>>,
}

/// Per namespace inode: its TcpExt and Tcp counters.
type Counters = HashMap<u64, (BTreeMap<String, i64>, BTreeMap<String, i64>)>;

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Observer {
    pub fn new(root: &ProcRoot, opts: ObserverOptions) -> Observer {
        Observer {
            root: root.clone(),
            watcher: Watcher::new(root.clone(), opts.netns.clone(), opts.interval),
            tracker: TrendTracker::new(opts.window.as_secs_f64()),
            tracer: (opts.trace_closers && root.is_live())
                .then(|| start_tracer().map(|t| (t, Instant::now()))),
            opts,
            last: None,
            refreshed: None,
        }
    }

    /// What this observer's tracer covers, for a snapshot it took.
    fn close_tracing(&self) -> Option<CloseTracing> {
        Some(match self.tracer.as_ref()? {
            Ok((_, started)) => CloseTracing::Traced {
                window_s: started.elapsed().as_secs_f64(),
            },
            Err(why) => CloseTracing::Unavailable {
                why: why.to_string(),
            },
        })
    }

    /// The next step of `watch`: the states counted now, the tables and
    /// findings of the latest detailed snapshot.
    pub fn step(&mut self) -> Result<Observation> {
        let observed = self.watcher.observe()?;
        let at = self.watcher.now();
        let obs = match (observed, &self.last) {
            (Observed::Counts(states), Some(last)) => Observation {
                sample: self.tracker.add_counts(&states, at, unix_now(), last),
                detail: None,
            },
            (Observed::Detailed(mut snap), _) => {
                if self.opts.hide_arguments {
                    snap.owners.hide_arguments();
                }
                snap.owners.close_tracing = self.close_tracing();
                if let Some(Err(why)) = &self.tracer {
                    snap.notes.push(untraced_note(why));
                }
                let (sample, detail) = judge(
                    &mut self.tracker,
                    *snap,
                    at,
                    &self.opts.thresholds,
                    self.opts.top,
                );
                Observation {
                    sample,
                    detail: Some(Box::new(detail)),
                }
            }
            (Observed::Counts(_), None) => {
                return Err(Error::Unsupported(
                    "the first observation must be a detailed one".into(),
                ));
            }
        };
        self.last = Some(obs.sample.clone());
        Ok(obs)
    }

    /// The exporter's refresh: a snapshot with everything any rule reads,
    /// its rows, the trends over the refreshes so far and the diagnosis,
    /// handed to `use_it` while the rows (which borrow the snapshot) live.
    pub(crate) fn refresh<R>(
        &mut self,
        use_it: impl FnOnce(&Snapshot, &[Vec<SocketRow<'_>>], &Trends, Diagnosis) -> R,
    ) -> Result<R> {
        let plan = SnapshotPlan {
            interval: Duration::ZERO,
            ..SnapshotPlan::new(Selection::All.needs())
        };
        let mut snap = plan::snapshot(&self.root, &self.opts.netns, &plan)?;
        self.rates_since_last_refresh(&mut snap);
        if self.opts.hide_arguments {
            snap.owners.hide_arguments();
        }
        let at = self.watcher.now();
        let rows = rows_by_namespace(&snap);
        let (trends, diagnosis) =
            trends_and_findings(&mut self.tracker, &snap, &rows, at, &self.opts.thresholds);
        Ok(use_it(&snap, &rows, &trends, diagnosis))
    }

    /// Makes the counter rates of a refresh's snapshot (taken without an
    /// interval: its two samples bracket only the listing, a few
    /// milliseconds) the rates since the previous refresh, over that
    /// measured time, when it read every namespace this one did; then keeps
    /// this refresh's counters for the next.
    fn rates_since_last_refresh(&mut self, snap: &mut Snapshot) {
        let now = Instant::now();
        if let Some((then, before)) = &self.refreshed
            && snap
                .namespaces
                .iter()
                .all(|ns| before.contains_key(&ns.netns.inode))
        {
            for ns in &mut snap.namespaces {
                if let Some((tcp_ext, tcp)) = before.get(&ns.netns.inode) {
                    ns.tcp_ext_before = tcp_ext.clone();
                    ns.tcp_before = tcp.clone();
                }
            }
            snap.interval_s = now.duration_since(*then).as_secs_f64();
        }
        let counters = snap
            .namespaces
            .iter()
            .map(|ns| {
                (
                    ns.netns.inode,
                    (ns.host.tcp_ext.clone(), ns.host.tcp.clone()),
                )
            })
            .collect();
        self.refreshed = Some((now, counters));
    }

    /// Observes every `interval` for `span` (trends only: the caller
    /// judges the final snapshot, `with_trends`). `progress` hears the
    /// seconds observed after each step.
    pub(super) fn observe_for(
        &mut self,
        span: Duration,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<()> {
        let end = Instant::now() + span;
        let mut next = Instant::now();
        while Instant::now() < end {
            if let Observed::Detailed(snap) = self.watcher.observe()? {
                self.tracker.add_snapshot(&snap, self.watcher.now());
            }
            progress(Progress::Observing {
                at_s: self.watcher.now(),
                total_s: span.as_secs_f64(),
            });
            next += self.opts.interval;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next.min(end) - now);
            }
        }
        Ok(())
    }

    /// `snap` with the trends up to it (`Snapshot::trends`).
    pub(super) fn with_trends(&mut self, mut snap: Snapshot) -> Snapshot {
        let trends = self.tracker.add_snapshot(&snap, self.watcher.now());
        snap.trends = Some(Box::new(trends));
        snap
    }
}

/// Trends and findings of one detailed snapshot taken at `at`, and the
/// sample shown: the rules judge every process, tuple and listener; only
/// the sample is cut to `top`.
fn judge(
    tracker: &mut TrendTracker,
    mut snap: Snapshot,
    at: f64,
    thresholds: &Thresholds,
    top: usize,
) -> (Sample, Detail) {
    let rows = rows_by_namespace(&snap);
    let (trends, diagnosis) = trends_and_findings(tracker, &snap, &rows, at, thresholds);
    drop(rows);
    let mut sample = Sample::from_trends(&trends, top, true, &snap.notes);
    sample.findings = finding_rows(&diagnosis);
    snap.trends = Some(Box::new(trends));
    (
        sample,
        Detail {
            snapshot: snap,
            diagnosis,
        },
    )
}

/// The trends up to `snap` (taken at `at`) and every rule's findings on
/// them, from one set of rows: the rules see the whole trends, so a
/// growing leak is a finding in `watch` and the exporter as in `diagnose
/// --for`, whatever `top` shows.
fn trends_and_findings(
    tracker: &mut TrendTracker,
    snap: &Snapshot,
    rows: &[Vec<SocketRow<'_>>],
    at: f64,
    thresholds: &Thresholds,
) -> (Trends, Diagnosis) {
    let trends = tracker.add_rows(snap, rows, at);
    let diagnosis = diagnose::run_on_rows(snap, rows, Some(&trends), thresholds, Selection::All);
    (trends, diagnosis)
}

/// The findings as a sample carries them.
fn finding_rows(d: &Diagnosis) -> Vec<FindingRow> {
    d.findings
        .iter()
        .map(|f| FindingRow {
            severity: f.severity,
            id: f.id.to_string(),
            subject: f.subject.clone(),
            title: f.title.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FdRef, NsSnapshot, OwnerIndex, Process, Socket, TcpState};

    /// pid 7 holds `steady` CLOSE_WAIT that never change; pid 8 holds the
    /// CLOSE_WAIT with cookies 1000..1000+`leaking`.
    fn host(steady: u64, leaking: u64) -> Snapshot {
        let mut ns = NsSnapshot::default();
        ns.netns.inode = 1;
        let mut owners = OwnerIndex::default();
        let cookies = (0..steady)
            .map(|c| (7, c))
            .chain((0..leaking).map(|c| (8, 1000 + c)));
        for (i, (pid, cookie)) in cookies.enumerate() {
            let mut s = Socket::new(
                TcpState::CloseWait,
                "10.0.0.1:80".parse().expect("ep"),
                format!("10.0.0.2:{}", 1000 + i).parse().expect("ep"),
            );
            s.cookie = Some(cookie);
            s.inode = 100 + cookie;
            owners
                .by_inode
                .entry(s.inode)
                .or_default()
                .push(FdRef { pid, fd: 3 });
            ns.sockets.push(s);
        }
        for (pid, comm) in [(7, "steady"), (8, "leaky")] {
            let p = Process {
                pid,
                comm: comm.into(),
                ..Process::default()
            };
            owners.processes.insert(pid, p);
        }
        Snapshot {
            namespaces: vec![ns],
            owners,
            ..Snapshot::default()
        }
    }

    /// The exporter's refresh once measured counter rates over the few
    /// milliseconds its listing took (`host_passive_opens_per_s 0.0` where
    /// diagnose measured thousands): they are over the time since the
    /// previous refresh.
    #[test]
    fn a_refresh_measures_rates_since_the_previous_one() {
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/every-state");
        let dir = std::env::temp_dir().join(format!("tcpdoctor-refresh-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let copied = std::process::Command::new("cp")
            .args(["-r"])
            .arg(fixture.join("proc"))
            .arg(&dir)
            .status()
            .expect("cp runs");
        assert!(copied.success());
        let mut observer = Observer::new(&ProcRoot::new(&dir), ObserverOptions::default());
        let passive = |m: &BTreeMap<String, i64>| m.get("PassiveOpens").copied();
        let first = observer
            .refresh(|snap, _, _, _| passive(&snap.namespaces[0].host.tcp))
            .expect("refreshes");
        // 1,000 connections accepted between the refreshes.
        let snmp = dir.join("net/snmp");
        let text = std::fs::read_to_string(&snmp).expect("snmp");
        let text = text.replace(
            "Tcp: 1 200 120000 -1 20 16 ",
            "Tcp: 1 200 120000 -1 20 1016 ",
        );
        std::fs::write(&snmp, text).expect("writes snmp");
        let (before, after, interval_s) = observer
            .refresh(|snap, _, _, _| {
                let ns = &snap.namespaces[0];
                (
                    passive(&ns.tcp_before),
                    passive(&ns.host.tcp),
                    snap.interval_s,
                )
            })
            .expect("refreshes");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(first, Some(16));
        assert_eq!(
            (before, after),
            (Some(16), Some(1016)),
            "the previous refresh's counters"
        );
        assert!(
            interval_s > 0.0,
            "over the measured time since: {interval_s}"
        );
    }

    /// `watch --top 1` once truncated the tables the rules read: a leak in
    /// the second process was never found. The rules judge them all; only
    /// what is shown is cut.
    #[test]
    fn top_cuts_what_is_shown_not_what_is_judged() {
        let mut tracker = TrendTracker::new(60.0);
        let th = Thresholds::default();
        judge(&mut tracker, host(100, 10), 0.0, &th, 1);
        let (sample, detail) = judge(&mut tracker, host(100, 60), 10.0, &th, 1);
        assert_eq!(sample.processes.len(), 1, "one row shown");
        assert_eq!(sample.processes[0].pid, 7, "the most CLOSE_WAIT first");
        let growing: Vec<_> = sample
            .findings
            .iter()
            .filter(|f| f.id == "close-wait-growing")
            .collect();
        assert_eq!(growing.len(), 1, "{:?}", sample.findings);
        assert!(growing[0].subject.contains("pid 8"), "{:?}", growing[0]);
        let trends = detail
            .snapshot
            .trends
            .expect("the snapshot keeps its trends");
        assert_eq!(trends.processes.len(), 2, "the trends keep every process");
    }
}
