//! Snapshots one after another for `watch` and `diagnose --for`: sockets
//! (with cookies, for growth) and counters every time; owners only as
//! often as they are cheap, reusing the last scan in between, so that
//! watching a busy host costs a bounded share of a core.

use super::ProcRoot;
use super::plan::{self, SnapshotPlan};
use crate::error::Result;
use crate::model::{Needs, NetnsSelector, OwnerIndex, Snapshot};
use std::time::{Duration, Instant};

/// A snapshot with owners may take at most this share of the time
/// between owner scans.
const OWNER_SHARE: f64 = 0.1;

/// One snapshot of a series.
pub struct Observed {
    pub snapshot: Snapshot,
    /// Seconds since the watcher started (monotonic), when it was taken.
    pub at: f64,
    /// Whether the owners were scanned for it (else the last scan's).
    pub owners_fresh: bool,
}

pub struct Watcher {
    root: ProcRoot,
    sel: NetnsSelector,
    started: Instant,
    owners: OwnerIndex,
    last_scan: Option<Instant>,
    /// How long the last snapshot with an owner scan took.
    scan_cost: Duration,
    interval: Duration,
}

impl Watcher {
    pub fn new(root: ProcRoot, sel: NetnsSelector, interval: Duration) -> Watcher {
        Watcher {
            root,
            sel,
            started: Instant::now(),
            owners: OwnerIndex::default(),
            last_scan: None,
            scan_cost: Duration::ZERO,
            interval,
        }
    }

    /// When the owners are due: every interval while a scan costs less
    /// than `OWNER_SHARE` of it, else as often as keeps it to that share.
    fn owners_due(&self) -> bool {
        let Some(last) = self.last_scan else {
            return true;
        };
        let spacing = self.interval.max(self.scan_cost.div_f64(OWNER_SHARE));
        last.elapsed() + self.interval / 2 >= spacing
    }

    /// Takes the next snapshot (no counter interval inside it: rates come
    /// from successive snapshots).
    pub fn observe(&mut self) -> Result<Observed> {
        let fresh = self.owners_due();
        let needs = if fresh {
            Needs::OWNERS.and(Needs::HOST).and(Needs::CLOSE_WAIT_INFO)
        } else {
            Needs::SOCKETS.and(Needs::HOST).and(Needs::CLOSE_WAIT_INFO)
        };
        let plan = SnapshotPlan {
            interval: Duration::ZERO,
            sysctl_files: Vec::new(),
            ..SnapshotPlan::new(needs)
        };
        let t = Instant::now();
        let mut snap = plan::snapshot(&self.root, &self.sel, &plan)?;
        let at = self.started.elapsed().as_secs_f64();
        if fresh {
            self.scan_cost = t.elapsed();
            self.last_scan = Some(Instant::now());
            self.owners = snap.owners.clone();
        } else {
            snap.owners = self.owners.clone();
        }
        Ok(Observed {
            snapshot: snap,
            at,
            owners_fresh: fresh,
        })
    }
}

/// Observes the host every `every` for `span`, then takes the final
/// snapshot with `last` (the caller's own plan) and returns it carrying
/// the trends over the whole observation (`Snapshot::trends`). `progress`
/// hears the seconds observed so far after each sample.
pub fn observe_then(
    root: &ProcRoot,
    sel: &NetnsSelector,
    span: Duration,
    every: Duration,
    last: impl FnOnce() -> Result<Snapshot>,
    mut progress: impl FnMut(f64),
) -> Result<Snapshot> {
    // Every process and upstream is kept: the rules judge them all.
    let mut tracker = crate::model::Tracker::new(span.as_secs_f64() + 60.0, usize::MAX);
    let mut watcher = Watcher::new(root.clone(), sel.clone(), every);
    let end = Instant::now() + span;
    let mut next = Instant::now();
    while Instant::now() < end {
        let o = watcher.observe()?;
        tracker.observe(&o.snapshot, o.at, o.owners_fresh);
        progress(o.at);
        next += every;
        let now = Instant::now();
        if next > now {
            std::thread::sleep((next.min(end)) - now);
        }
    }
    let mut snap = last()?;
    let at = watcher.started.elapsed().as_secs_f64();
    let sample = tracker.observe(&snap, at, true);
    snap.trends = Some(Box::new(sample));
    Ok(snap)
}
