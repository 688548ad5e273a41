//! Counting and listing sockets: `census`, `sockets`, and what holds a
//! port (`explain --port`).

use super::{Progress, trace_for};
use crate::collect::plan::{self, SnapshotPlan};
use crate::collect::{ProcRoot, SocketQuery, SourceChoice};
use crate::error::Result;
use crate::model::{
    CensusOutcome, GroupBy, GroupKey, Listing, Needs, NetnsSelector, RowFilter, Snapshot, TcpState,
    rows,
};
use std::time::Duration;

/// What a census counts.
#[derive(Clone, Debug, Default)]
pub struct CensusOptions {
    pub netns: NetnsSelector,
    pub query: SocketQuery,
    pub source: SourceChoice,
    pub by: Option<GroupBy>,
    /// Groups shown per state.
    pub top: usize,
    /// Trace closes this long first (TIME_WAIT closers, with `--by
    /// process`).
    pub trace: Option<Duration>,
}

/// Counts the sockets per state (and per group) in every namespace asked
/// for.
pub fn census(
    root: &ProcRoot,
    opts: &CensusOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<CensusOutcome> {
    let _tracer = opts.trace.and_then(|t| trace_for(t, progress));
    let mut outcome = plan::census(
        root,
        &opts.netns,
        &opts.query,
        opts.source,
        opts.by,
        opts.top,
    )?;
    let reports = match &mut outcome {
        CensusOutcome::Single(r) => std::slice::from_mut(r.as_mut()),
        CensusOutcome::Multi(m) => m.namespaces.as_mut_slice(),
    };
    let guessed = reports.iter().any(|r| {
        r.groups
            .iter()
            .flat_map(|g| &g.top)
            .any(|(k, _)| matches!(k, GroupKey::LikelyProcess(_)))
    });
    if guessed && let Some(r) = reports.first_mut() {
        r.notes.push(LIKELY_NOTE.to_string());
    }
    Ok(outcome)
}

/// Said where TIME_WAIT went to likely closers: exact ones are a flag
/// away.
const LIKELY_NOTE: &str = "TIME_WAIT marked (likely) went to the processes that talk to that \
    peer now, a guess: `--trace 10` (root) or a running `tcpdoctor trace` names who closed each";

/// What a listing lists.
#[derive(Clone, Debug)]
pub struct ListingOptions {
    pub netns: NetnsSelector,
    pub filter: RowFilter,
    pub ipv4: bool,
    pub ipv6: bool,
    /// Find each socket's owning processes.
    pub owners: bool,
    /// Trace closes this long first (exact TIME_WAIT closers).
    pub trace: Option<Duration>,
    /// At most this many rows.
    pub limit: Option<usize>,
}

impl Default for ListingOptions {
    fn default() -> Self {
        ListingOptions {
            netns: NetnsSelector::Current,
            filter: RowFilter::default(),
            ipv4: true,
            ipv6: true,
            owners: true,
            trace: None,
            limit: None,
        }
    }
}

/// A snapshot of the sockets asked for; its rows borrow from it.
pub struct Sockets {
    pub snapshot: Snapshot,
    filter: RowFilter,
    limit: Option<usize>,
}

impl Sockets {
    /// The rows, filtered, in listing order, at most `limit`.
    pub fn listing(&self) -> Listing<'_> {
        let mut listing = rows(&self.snapshot, &self.filter);
        if let Some(n) = self.limit {
            listing.rows.truncate(n);
        }
        listing
    }
}

/// The sockets `opts` ask for, with their owners and ages.
pub fn listing(
    root: &ProcRoot,
    opts: &ListingOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Sockets> {
    let needs = if opts.owners {
        Needs::OWNERS.and(Needs::CLOSE_WAIT_INFO)
    } else {
        Needs::CLOSE_WAIT_INFO
    };
    let plan = SnapshotPlan {
        filter: opts.filter.clone(),
        ipv4: opts.ipv4,
        ipv6: opts.ipv6,
        ..SnapshotPlan::new(needs)
    };
    let _tracer = opts.trace.and_then(|t| trace_for(t, progress));
    let mut snapshot = plan::snapshot(root, &opts.netns, &plan)?;
    // A TIME_WAIT listed without its exact closer (stops at the first).
    let guessed = opts.owners
        && snapshot
            .namespaces
            .iter()
            .flat_map(|ns| &ns.sockets)
            .any(|s| {
                s.state == TcpState::TimeWait
                    && opts.filter.matches_socket(s)
                    && snapshot.owners.closer(s.cookie).is_none()
            });
    if guessed {
        snapshot.notes.push(
            "TIME_WAIT owners are the processes that talk to that peer now (likely, a guess): \
             `--trace 10` (root) or a running `tcpdoctor trace` names who closed each"
                .to_string(),
        );
    }
    Ok(Sockets {
        snapshot,
        filter: opts.filter.clone(),
        limit: opts.limit,
    })
}

/// What holds `port` in this namespace now (listeners and connections).
pub fn port_holders(root: &ProcRoot, port: u16) -> Result<Sockets> {
    let opts = ListingOptions {
        filter: RowFilter {
            port: Some(port),
            ..RowFilter::default()
        },
        ..ListingOptions::default()
    };
    listing(root, &opts, &mut super::quiet)
}
