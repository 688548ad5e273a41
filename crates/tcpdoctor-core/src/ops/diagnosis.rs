//! One look at the host, judged: the snapshot the selected rules need
//! (traced first with `--trace`, with trends over `--for`), the diagnosis
//! of it, and the sysctl review.

use super::{Observer, ObserverOptions, Progress, trace_for};
use crate::collect::ProcRoot;
use crate::collect::plan::{self, SnapshotPlan};
use crate::diagnose::{self, Diagnosis, Selection, Thresholds, sysctls};
use crate::error::Result;
use crate::model::{NetnsSelector, Snapshot};
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
    /// Trace closes for this long before collecting (exact TIME_WAIT
    /// closers).
    pub trace: Option<Duration>,
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

impl Default for SnapshotOptions {
    fn default() -> Self {
        SnapshotOptions {
            netns: NetnsSelector::Current,
            sysctl_files: Vec::new(),
            interval: Duration::from_secs(1),
            trace: None,
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
/// traced first with `trace` (the part of it longer than `observe`), with
/// trends over `observe`.
pub fn snapshot(
    root: &ProcRoot,
    opts: &SnapshotOptions,
    selection: Selection,
    progress: &mut dyn FnMut(Progress),
) -> Result<Snapshot> {
    let plan = plan_for(opts, selection);
    let wait = opts
        .trace
        .map(|t| t.saturating_sub(opts.observe.unwrap_or_default()));
    // The tracer lives until the collection is done: its table is what
    // names the closers.
    let _tracer = wait.and_then(|w| trace_for(w, progress));
    let Some(span) = opts.observe else {
        return plan::snapshot(root, &opts.netns, &plan).map(|s| hidden(s, opts));
    };
    let mut observer = Observer::new(
        root,
        ObserverOptions {
            netns: opts.netns.clone(),
            interval: Duration::from_secs(1),
            // Every sample of the span and a margin: the rules judge the
            // whole observation.
            window: span + Duration::from_secs(60),
            ..ObserverOptions::default()
        },
    );
    observer.observe_for(span, progress)?;
    let snap = plan::snapshot(root, &opts.netns, &plan)?;
    Ok(hidden(observer.with_trends(snap), opts))
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
