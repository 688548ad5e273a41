//! One look at the host, judged: the snapshot the selected rules need
//! (closes traced while it waits, with trends over `--for`), the diagnosis
//! of it, and the sysctl review.

use super::{Observer, ObserverOptions, Progress, start_tracer, untraced_note};
use crate::collect::ProcRoot;
use crate::collect::plan::{self, SnapshotPlan};
use crate::diagnose::{self, Diagnosis, Selection, Thresholds, sysctls};
use crate::error::Result;
use crate::model::{CloseTracing, NetnsSelector, Snapshot};
use crate::offline::{Format, analyze};
use std::path::PathBuf;
use std::time::Duration;

/// What a snapshot of this host reads (diagnose, snapshot, sysctl).
#[derive(Clone, Debug)]
pub struct SnapshotOptions {
    pub netns: NetnsSelector,
    /// sysctl.conf files to audit; empty: /etc/sysctl.d/*.conf and
    /// /etc/sysctl.conf (a missing named file is an error, a missing
    /// default one is not).
    pub sysctl_files: Vec<PathBuf>,
    /// Time between the two counter samples that rates are measured over.
    pub interval: Duration,
    /// Whether, and how long, to trace who closes connections (exact
    /// TIME_WAIT closers).
    pub trace: CloseTrace,
    /// Observe for this long first, so that findings gain trends.
    pub observe: Option<Duration>,
    /// The namespaces were made just now (the lab's): their counters
    /// count from zero, so no first sample is waited for, and the host's
    /// sysctl.conf files do not configure them.
    pub fresh_namespace: bool,
    /// Keep only the base name of each process's argv[0] (arguments may
    /// hold secrets, `--password=...`), and say so in the notes: what a
    /// snapshot written to a file does unless asked (`--show-cmdline`).
    pub hide_arguments: bool,
}

/// The note of a snapshot whose command lines were left out.
const ARGUMENTS_HIDDEN_NOTE: &str = concat!(
    "command lines left out: processes show as comm and the base name of argv[0] ",
    "(--show-cmdline keeps them)"
);

/// Whether a snapshot traces who closes connections. Tracing costs ~36 ms
/// to start and ~9% of a loopback connection rate while it runs
/// (docs/benchmarks.md), and nothing stays loaded after the command.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum CloseTrace {
    /// Not at all (`--no-trace`).
    Off,
    /// While the command waits anyway: the counter interval and `--for`.
    #[default]
    WhileWaiting,
    /// At least this long in all (`--trace N`): what the waits leave of it
    /// is traced before them.
    AtLeast(Duration),
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        SnapshotOptions {
            netns: NetnsSelector::Current,
            sysctl_files: Vec::new(),
            interval: Duration::from_secs(1),
            trace: CloseTrace::WhileWaiting,
            observe: None,
            fresh_namespace: false,
            hide_arguments: false,
        }
    }
}

/// What a diagnosis reads and how it judges.
#[derive(Clone, Debug, Default)]
pub struct DiagnoseOptions {
    pub snapshot: SnapshotOptions,
    pub thresholds: Thresholds,
    pub selection: Selection,
}

/// The plan that collects what `selection`'s rules need.
fn plan_for(opts: &SnapshotOptions, selection: Selection) -> SnapshotPlan {
    let mut plan = SnapshotPlan::new(selection.needs());
    plan.interval = opts.interval;
    if !opts.sysctl_files.is_empty() {
        plan.sysctl_files = opts.sysctl_files.clone();
        plan.files_explicit = true;
    }
    if opts.fresh_namespace {
        plan.sysctl_files = Vec::new();
        plan.counters_from_zero = true;
        plan.interval = Duration::ZERO;
    }
    plan
}

/// The snapshot `opts` asks for, with what `selection`'s rules need:
/// closes traced through the waits (`--for`, the counter interval) and
/// before them for what `--trace` asks beyond, with trends over `observe`.
pub fn snapshot(
    root: &ProcRoot,
    opts: &SnapshotOptions,
    selection: Selection,
    progress: &mut dyn FnMut(Progress),
) -> Result<Snapshot> {
    let mut plan = plan_for(opts, selection);
    let observe = opts.observe.unwrap_or_default();
    let waits = observe
        + if selection.needs().counter_rates {
            plan.interval
        } else {
            Duration::ZERO
        };
    let before = match opts.trace {
        CloseTrace::AtLeast(t) => t.saturating_sub(waits),
        _ => Duration::ZERO,
    };
    let wanted = opts.trace != CloseTrace::Off && root.is_live() && !(waits + before).is_zero();
    // The tracer lives until the collection is done: its table is what
    // names the closers.
    let tracer = wanted.then(start_tracer);
    let started = std::time::Instant::now();
    if let Some(Ok(_)) = &tracer {
        // The sockets after the counter interval, so that the closes of
        // that second are traced (the observation precedes them anyway).
        plan.dump_after_interval = selection.needs().counter_rates;
        if !before.is_zero() {
            progress(Progress::Tracing {
                for_s: before.as_secs_f64(),
            });
            std::thread::sleep(before);
        }
    }
    let traced = |mut snap: Snapshot| {
        snap.owners.close_tracing = match &tracer {
            Some(Ok(_)) => Some(CloseTracing::Traced {
                window_s: started.elapsed().as_secs_f64(),
            }),
            Some(Err(why)) => {
                snap.notes.push(untraced_note(why));
                Some(CloseTracing::Unavailable {
                    why: why.to_string(),
                })
            }
            None => None,
        };
        hidden(snap, opts)
    };
    if let Some(Err(why)) = &tracer
        && opts.trace != CloseTrace::WhileWaiting
    {
        progress(Progress::Note(format!(
            "--trace: cannot trace ({why}); TIME_WAIT closers stay likely"
        )));
    }
    if observe.is_zero() {
        return plan::snapshot(root, &opts.netns, &plan).map(traced);
    }
    let mut observer = Observer::new(
        root,
        ObserverOptions {
            netns: opts.netns.clone(),
            interval: Duration::from_secs(1),
            // Every sample of the span and a margin: the rules judge the
            // whole observation.
            window: observe + Duration::from_secs(60),
            ..ObserverOptions::default()
        },
    );
    observer.observe_for(observe, progress)?;
    let snap = plan::snapshot(root, &opts.netns, &plan)?;
    Ok(traced(observer.with_trends(snap)))
}

/// `snap` without arguments when `opts` say so.
fn hidden(mut snap: Snapshot, opts: &SnapshotOptions) -> Snapshot {
    if opts.hide_arguments {
        snap.owners.hide_arguments();
        snap.notes.push(ARGUMENTS_HIDDEN_NOTE.to_string());
    }
    snap
}

/// Diagnoses this host as `opts` say.
pub fn diagnose(
    root: &ProcRoot,
    opts: &DiagnoseOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Diagnosis> {
    let snap = snapshot(root, &opts.snapshot, opts.selection, progress)?;
    Ok(diagnose_snapshot(&snap, &opts.thresholds, opts.selection))
}

/// Diagnoses a snapshot taken already, live or read back from a file.
pub fn diagnose_snapshot(
    snap: &Snapshot,
    thresholds: &Thresholds,
    selection: Selection,
) -> Diagnosis {
    diagnose::run(snap, thresholds, selection)
}

/// The sysctl audit: the sysctl rules' findings and a verdict on every
/// TCP-related line of the files (also the ones that are fine).
#[derive(Clone, Debug)]
pub struct SysctlReview {
    pub diagnosis: Diagnosis,
    pub lines: Vec<sysctls::LineVerdict>,
}

/// Reviews the live sysctls of `netns` and the sysctl.conf files, judged
/// with `thresholds` as `diagnose` judges them.
pub fn sysctl_review(
    root: &ProcRoot,
    netns: &NetnsSelector,
    sysctl_files: &[PathBuf],
    thresholds: &Thresholds,
) -> Result<SysctlReview> {
    // The sysctl rules read no counter rates: no interval to wait.
    let opts = SnapshotOptions {
        netns: netns.clone(),
        sysctl_files: sysctl_files.to_vec(),
        ..SnapshotOptions::default()
    };
    let plan = plan_for(&opts, Selection::Sysctl);
    let snap = plan::snapshot(root, netns, &plan)?;
    Ok(SysctlReview {
        diagnosis: diagnose::run(&snap, thresholds, Selection::Sysctl),
        lines: sysctls::review(&snap),
    })
}

/// Diagnoses dumps from another machine (`analyze`): a snapshot by every
/// rule, the awk census's `STATE COUNT` lines by what counts allow.
pub fn diagnose_dumps(
    paths: &[PathBuf],
    format: Option<Format>,
    lenient: bool,
    thresholds: &Thresholds,
) -> Result<Diagnosis> {
    Ok(match analyze::diagnosable(paths, format, lenient)?.0 {
        analyze::Diagnosable::Snapshot(snap) => diagnose::run(&snap, thresholds, Selection::All),
        analyze::Diagnosable::Counts(states, notes) => {
            diagnose::counts::diagnose(&states, thresholds, notes)
        }
    })
}
