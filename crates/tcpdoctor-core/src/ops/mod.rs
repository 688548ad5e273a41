//! The application layer: one place that turns resolved options (flags
//! over the configuration file over defaults, resolved once by the front
//! end) into a result: a diagnosis, a snapshot, an observation over time,
//! a census, a listing, a sysctl review, a trace. Every front end (the
//! CLI's commands, `serve`, the lab) calls these and renders what they
//! return; none assembles collection, rows, trends and rules itself.
//!
//! Front ends reach the core through `ops`, `model` and `render` (the
//! layering test checks it); the types they need from the layers below
//! are re-exported here.

mod diagnosis;
mod listing;
mod observer;
mod scrape;
mod trace;

pub use diagnosis::{
    CloseTrace, DiagnoseOptions, SnapshotOptions, SysctlReview, diagnose, diagnose_dumps,
    diagnose_snapshot, snapshot, sysctl_review,
};
pub use listing::{CensusOptions, ListingOptions, Sockets, census, listing, port_holders};
pub use observer::{Detail, Observation, Observer, ObserverOptions};
pub(crate) use scrape::count_states;
pub use trace::{Sources, TraceSession, sources};
use trace::{start_tracer, trace_for, untraced_note};

pub use crate::collect::bpf::Unavailable;
pub use crate::collect::host::{effective_capabilities, read_host_info};
pub use crate::collect::netns::resolve as resolve_netns;
pub use crate::collect::{ProcRoot, SocketQuery, SourceChoice};
pub use crate::diagnose::sysctls::LineVerdict;
pub use crate::diagnose::{
    Diagnosis, Finding, Selection, Severity, Threshold, Thresholds, explain, thresholds,
};
pub use crate::offline::{
    Format, analyze, file_kind, open as open_input, recording, snapshot as snapshot_file,
};

/// What a long operation reports while it runs, for the front end to show
/// (the CLI prints it on stderr; the exporter logs nothing of it).
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    /// Tracing closes for this many seconds before collecting.
    Tracing { for_s: f64 },
    /// Observed `at_s` of `total_s` seconds so far.
    Observing { at_s: f64, total_s: f64 },
    /// Something the user should know that is not an error (a tracer that
    /// could not start, and what that means).
    Note(String),
}

/// A progress sink that hears nothing.
pub fn quiet(_: Progress) {}
