//! Observations one after another for `watch` and `diagnose --for`: the
//! states counted every time (in the kernel where eBPF allows, else over
//! netlink), and a detailed snapshot (sockets with cookies, owners,
//! counters) as often as keeps its cost to `DETAIL_SHARE` of the time, so
//! that watching a busy host costs a bounded share of a core.

use super::plan::{self, SnapshotPlan};
use super::{ProcRoot, SocketQuery, SourceChoice};
use crate::error::Result;
use crate::model::{CensusOutcome, Needs, NetnsSelector, Snapshot, TcpState};
use std::time::{Duration, Instant};

/// The share of one core that detailed snapshots may take, in CPU time
/// (their owner scan runs on several threads); the counts every interval
/// come on top.
const DETAIL_SHARE: f64 = 0.1;

/// CPU time this process has used (every thread), from getrusage(2).
fn cpu_time() -> Duration {
    // SAFETY: rusage is plain data; zeroed is a valid value to fill.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: u is a valid rusage for the call to fill.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// One observation of a series.
pub(crate) enum Observed {
    /// Sockets, owners, counters.
    Detailed(Box<Snapshot>),
    /// The states alone, summed over the namespaces.
    Counts(Vec<(TcpState, u64)>),
}

pub(crate) struct Watcher {
    root: ProcRoot,
    sel: NetnsSelector,
    started: Instant,
    last_detail: Option<Instant>,
    /// The CPU time the last detailed snapshot and its processing took.
    detail_cost: Duration,
    /// CPU time when the last detailed snapshot began.
    detail_began: Duration,
    interval: Duration,
}

impl Watcher {
    pub(crate) fn new(root: ProcRoot, sel: NetnsSelector, interval: Duration) -> Watcher {
        Watcher {
            root,
            sel,
            started: Instant::now(),
            last_detail: None,
            detail_cost: Duration::ZERO,
            detail_began: Duration::ZERO,
            interval,
        }
    }

    /// Seconds since the watcher started (monotonic).
    pub(crate) fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Whether the next observation is a detailed one: every interval
    /// while one costs under `DETAIL_SHARE` of it, else as often as keeps
    /// them to that share.
    fn detail_due(&mut self) -> bool {
        let Some(last) = self.last_detail else {
            return true;
        };
        // What the last detail cost, its processing by the caller (trends,
        // findings) included: CPU time from its start until now, minus the
        // counts taken since, which are cheap beside it.
        if self.detail_cost.is_zero() {
            self.detail_cost = cpu_time().saturating_sub(self.detail_began);
        }
        let spacing = self.interval.max(self.detail_cost.div_f64(DETAIL_SHARE));
        last.elapsed() + self.interval / 2 >= spacing
    }

    /// The next observation (no counter interval inside it: rates come
    /// from successive detailed snapshots).
    pub(crate) fn observe(&mut self) -> Result<Observed> {
        if !self.detail_due() {
            let query = SocketQuery::default();
            let counted = plan::census(&self.root, &self.sel, &query, SourceChoice::Auto, None, 0)?;
            let states = match counted {
                CensusOutcome::Single(r) => r.states,
                CensusOutcome::Multi(m) => m.states,
            };
            return Ok(Observed::Counts(states));
        }
        let needs = Needs::OWNERS.and(Needs::HOST).and(Needs::CLOSE_WAIT_INFO);
        let plan = SnapshotPlan {
            interval: Duration::ZERO,
            sysctl_files: Vec::new(),
            ..SnapshotPlan::new(needs)
        };
        self.detail_began = cpu_time();
        self.detail_cost = Duration::ZERO;
        let snap = plan::snapshot(&self.root, &self.sel, &plan)?;
        self.last_detail = Some(Instant::now());
        Ok(Observed::Detailed(Box::new(snap)))
    }
}
